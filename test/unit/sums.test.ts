// master/sums.ts: files' hashes wait to fill a signed datagram, at most
// SUMS_WAIT_MS, and go at once when no first pass is left or a target asked;
// each file's EOF goes after its hash, never before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SUMS_WAIT_MS, SumsOut } from '../../src/master/sums';
import { NativePageLoop } from '../../src/native';
import { Msg, decodeSums } from '../../src/wire/protocol';
import { MasterSigner, MasterVerifier } from '../../src/wire/signing';

function fakeLoop(sent: Array<{ type: number; index: number; payload: Buffer | null }>): NativePageLoop {
  return { sendControl: (type: number, _o: number, index: number, payload: Buffer | null) => { sent.push({ type, index, payload }); } } as unknown as NativePageLoop;
}

test('hashes fill a datagram, or wait SUMS_WAIT_MS, or go at once at the tail or when asked; EOFs follow their hash', () => {
  const signer = new MasterSigner();
  const v = new MasterVerifier(signer.publicKey);
  const sent: Array<{ type: number; index: number; payload: Buffer | null }> = [];
  const s = new SumsOut(fakeLoop(sent), signer, 1449);
  const eofs: Array<[number, number]> = [];
  const eof = (obj: number, round: number): void => { eofs.push([obj, round]); };
  s.queue(1, Buffer.alloc(32, 1), 1000);
  assert.equal(s.holdEof(1, 1), true, 'its hash is not out: the EOF waits');
  assert.equal(s.holdEof(9, 1), false, 'no hash waiting: the EOF goes now');
  s.flush(1000 + SUMS_WAIT_MS - 1, 5, eof);
  assert.equal(sent.length, 0, 'waits to fill the datagram');
  s.flush(1000 + SUMS_WAIT_MS, 5, eof);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].type, Msg.Sums);
  assert.deepEqual(decodeSums(sent[0].payload!, sent[0].index, v), [[1, Buffer.alloc(32, 1)]]);
  assert.deepEqual(eofs, [[1, 1]]);
  // 38 fill a datagram of a 1,449-byte page: out at once; 39 make two
  for (let o = 10; o < 49; o++) s.queue(o, Buffer.alloc(32, o), 2000);
  s.flush(2000, 5, eof);
  assert.equal(sent.length, 3);
  assert.equal(decodeSums(sent[1].payload!, sent[1].index, v)!.length, 38);
  assert.equal(decodeSums(sent[2].payload!, sent[2].index, v)!.length, 1);
  assert.equal(s.sent, 3);
  // the tail (no first pass left) and a target's NeedSum do not wait
  s.queue(60, Buffer.alloc(32), 3000);
  s.flush(3000, 0, eof);
  assert.equal(sent.length, 4);
  s.queue(61, Buffer.alloc(32), 4000, true);
  s.flush(4000, 5, eof);
  assert.equal(sent.length, 5);
  // a flow that ended: its held EOF is not sent
  s.queue(70, Buffer.alloc(32), 5000);
  s.holdEof(70, 2);
  s.forget(70);
  s.flush(5000, 0, eof);
  assert.deepEqual(eofs, [[1, 1]]);
});
