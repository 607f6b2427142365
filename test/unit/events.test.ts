// master/events.ts: the native loop's batches as typed calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MasterEvents, dispatch } from '../../src/master/events';
import { LoopEvent } from '../../src/native';
import { Msg, encodeDone } from '../../src/wire/protocol';

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
