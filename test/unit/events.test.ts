// master/events.ts: the native loop's batches as typed calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MasterEvents, dispatch } from '../../src/master/events';
import { LoopEvent } from '../../src/native';
import { ACKS_PER_DATAGRAM, ACK_LEN, AckType, Msg, encodeDone, writeAck } from '../../src/wire/protocol';

test('jobs, answers and reports reach their handlers; unknown senders, bad payloads and other types do not', () => {
  const calls: string[] = [];
  const h: MasterEvents = {
    jobEnded: (job, hash, errno) => calls.push(`job ${job} ${hash ? hash.length : '-'} ${errno}`),
    heard: (sender) => sender === 1,
    stat: (s, r, e, at) => calls.push(`stat ${s} ${r}/${e} @${at}`),
    openOk: (s, o) => calls.push(`openOk ${s} ${o}`),
    missing: (s, o, r, p) => calls.push(`missing ${s} ${o} ${r} ${p.length}`),
    checkMissing: (s, o, k) => calls.push(`check ${s} ${o} ${k}`),
    done: (s, o, d) => calls.push(`done ${s} ${o} ${d.code} ${d.message}`),
    wait: (s, o, r) => calls.push(`wait ${s} ${o} ${r}`),
    needSum: (s, o) => calls.push(`needSum ${s} ${o}`),
  };
  const ev = (kind: LoopEvent['kind'], type: number, sender: number, object: number, index: number, payload?: Buffer, err = 0): LoopEvent =>
    ({ kind, type, sender, object, index, err, rxNs: 0, payload });
  const stat = Buffer.alloc(24);
  stat.writeBigUInt64BE(90n, 0);
  stat.writeBigUInt64BE(100n, 8);
  stat.writeBigUInt64BE(5000000n, 16);
  dispatch([
    ev('sent', 0, 0, 5, 7, Buffer.alloc(32)), ev('sent', 0, 0, 5, 8), ev('jobError', 0, 0, 5, 9, undefined, 61),
    ev('control', Msg.Stat, 1, 0, 0, stat), ev('control', Msg.Stat, 1, 0, 0, Buffer.alloc(3)), ev('control', Msg.Stat, 1, 0, 0, Buffer.alloc(16)),
    ev('control', Msg.OpenOk, 1, 5, 0), ev('control', Msg.OpenOk, 2, 5, 0),
    ev('control', Msg.Missing, 1, 5, 3, Buffer.alloc(12)), ev('control', Msg.CheckMissing, 1, 5, 2, Buffer.alloc(4)),
    ev('control', Msg.Done, 1, 5, 0, encodeDone({ code: 2, message: 'x' })), ev('control', Msg.Done, 1, 5, 0, Buffer.from([250])),
    ev('control', Msg.Wait, 1, 5, 4), ev('control', Msg.NeedSum, 1, 5, 4), ev('control', Msg.Open, 1, 5, 0),
  ], h, 0);
  assert.deepEqual(calls, ['job 7 32 null', 'job 8 - null', 'job 9 - 61', 'stat 1 90/100 @5000000', 'openOk 1 5', 'missing 1 5 3 12',
    'check 1 5 2', 'done 1 5 2 x', 'wait 1 5 4', 'needSum 1 5']);
});

test('an Acks datagram: each file\'s answer reaches its handler in order; a malformed one gives none of them', () => {
  const calls: string[] = [];
  const h: MasterEvents = {
    jobEnded: () => calls.push('job'), heard: (sender) => sender === 1, stat: () => calls.push('stat'),
    openOk: (s, o) => calls.push(`openOk ${s} ${o}`), missing: () => calls.push('missing'), checkMissing: () => calls.push('check'),
    done: (s, o, d) => calls.push(`done ${s} ${o} ${d.code} '${d.message}'`), wait: (s, o, r) => calls.push(`wait ${s} ${o} ${r}`),
    needSum: (s, o) => calls.push(`needSum ${s} ${o}`),
  };
  const acks = (list: Array<[number, number, number]>): Buffer => {
    const b = Buffer.alloc(list.length * ACK_LEN);
    list.forEach(([t, o, a], i) => writeAck(b, i * ACK_LEN, t as AckType, o, a));
    return b;
  };
  const ev = (sender: number, payload: Buffer): LoopEvent => ({ kind: 'control', type: Msg.Acks, sender, object: 0, index: 0, err: 0, rxNs: 0, payload });
  const good = acks([[Msg.OpenOk, 7, 0], [Msg.Done, 5, 0], [Msg.Done, 6, 3], [Msg.Wait, 8, 2], [Msg.NeedSum, 9, 1], [Msg.OpenOk, 0xfffffff0, 0]]);
  dispatch([ev(1, good), ev(2, good)], h, 0);
  assert.deepEqual(calls, ['openOk 1 7', 'done 1 5 0 \'\'', 'done 1 6 3 \'\'', 'wait 1 8 2', 'needSum 1 9', 'openOk 1 4294967280']);
  calls.length = 0;
  dispatch([
    ev(1, Buffer.concat([good, Buffer.alloc(1)])),             // not whole acks
    ev(1, acks([[Msg.OpenOk, 7, 0], [Msg.Missing, 5, 0]])),     // a type an ack cannot be
    ev(1, acks([[Msg.OpenOk, 7, 0], [Msg.Done, 5, 250]])),      // no such failure code
    ev(1, Buffer.alloc(0)),
  ], h, 0);
  assert.deepEqual(calls, []);
  assert.equal(ACKS_PER_DATAGRAM * ACK_LEN <= 1200, true);
});
