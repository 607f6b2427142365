// Control payloads (wire/protocol.ts): Missing, Done, the signed Sums and Abort.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { FAILURE_CODES } from '../../src/errors';
import { abortSigned, batchRoom, decodeBatch, decodeDone, decodeMissing, decodeSums, encodeAbort, encodeBatch, encodeDone, encodeMissing, encodeSums, isAwaited, splitAwaited, sumsPerDatagram, withAwaited } from '../../src/wire/protocol';
import { MasterSigner, MasterVerifier } from '../../src/wire/signing';
import { PACK_BASE, PACK_FILES, decodePack, encodePackHeader, isPack, packHeaderLen } from '../../src/wire/pack';
import { SEG_BASE } from '../../src/wire/manifest';

test('Sums payload: n sums of (object, SHA-256) and the master\'s Ed25519 signature; 38 to a 1,449-byte page', () => {
  const signer = new MasterSigner();
  const v = new MasterVerifier(signer.publicKey);
  const sums: Array<[number, Buffer]> = [[1, crypto.randomBytes(32)], [0xefffffff, crypto.randomBytes(32)]];
  const b = encodeSums(sums, 7, signer);
  assert.equal(b.length, 1 + 2 * 36 + 64);
  assert.equal(b[0], 2);
  assert.equal(b.readUInt32BE(1), 1);
  assert.deepEqual(b.subarray(5, 37), sums[0][1]);
  assert.deepEqual(decodeSums(b, 7, v), sums);
  assert.equal(decodeSums(b.subarray(0, b.length - 1), 7, v), null, 'truncated');
  assert.equal(decodeSums(Buffer.concat([b, Buffer.alloc(1)]), 7, v), null, 'extended');
  // another holder of the session key signs with a key of its own: refused
  assert.equal(decodeSums(encodeSums(sums, 7, new MasterSigner()), 7, v), null, 'signed by another key');
  assert.equal(decodeSums(b, 8, v), null, 'moved to another index');
  assert.equal(sumsPerDatagram(1449), 38);
  assert.ok(1 + 38 * 36 + 64 <= 1449);
  assert.throws(() => new MasterVerifier('00'), /bad signKey/);
});

test('Abort is signed: another holder of the session key cannot make a target drop a file', () => {
  const signer = new MasterSigner();
  const v = new MasterVerifier(signer.publicKey);
  assert.equal(abortSigned(12, encodeAbort(12, signer), v), true);
  assert.equal(abortSigned(13, encodeAbort(12, signer), v), false, 'another file');
  assert.equal(abortSigned(12, encodeAbort(12, new MasterSigner()), v), false, 'another key');
  assert.equal(abortSigned(12, Buffer.alloc(0), v), false, 'unsigned');
});

test('MISSING payload: runs inside the file only, never more than the total', () => {
  const ok = encodeMissing(5, Uint32Array.from([0, 2, 10, 3]));
  assert.equal(ok.toString('hex'), '00000005' + '00000000' + '00000002' + '0000000a' + '00000003');
  assert.deepEqual(decodeMissing(ok, 20), { total: 5, runs: Uint32Array.from([0, 2, 10, 3]) });
  assert.equal(decodeMissing(ok, 12), null, 'run past the end');
  assert.equal(decodeMissing(encodeMissing(1, Uint32Array.from([0, 2])), 20), null, 'covers more than total');
  assert.equal(decodeMissing(encodeMissing(2, Uint32Array.from([0, 0])), 20), null, 'empty run');
  assert.equal(decodeMissing(encodeMissing(25, Uint32Array.from([])), 20), null, 'total past the end');
  assert.equal(decodeMissing(Buffer.alloc(7), 20), null, 'ragged');
  assert.equal(decodeMissing(encodeMissing(3, Uint32Array.from([0xfffffffe, 4])), 0xffffffff), null, 'wraps');
});

test('DONE payload', () => {
  assert.deepEqual(decodeDone(encodeDone({ code: 1, message: 'ENOSPC' })), { code: 1, message: 'ENOSPC' });
  assert.deepEqual(decodeDone(encodeDone({ code: 2, message: 'content hash mismatch' })), { code: 2, message: 'content hash mismatch' });
  assert.equal(decodeDone(Buffer.from([FAILURE_CODES.length])), null, 'no such failure code');
  assert.equal(decodeDone(Buffer.alloc(0)), null);
});

test('Opens and Eofs: many files behind one awaited bitmap; only whole items; room for them in a datagram', () => {
  const awaited = withAwaited([1, 3], 3, null);
  const b = encodeBatch(awaited, [7, 8, 0xfffffff0]);
  const sp = splitAwaited(b)!;
  assert.equal(isAwaited(sp.awaited, 1), true);
  assert.equal(isAwaited(sp.awaited, 2), false);
  assert.deepEqual(decodeBatch(sp.rest, 4), [7, 8, 0xfffffff0]);
  assert.equal(decodeBatch(sp.rest, 8), null);          // 12 bytes are not whole (object, round) pairs
  assert.deepEqual(decodeBatch(encodeBatch(awaited, [7, 1, 8, 2]).subarray(awaited.length), 8), [7, 1, 8, 2]);
  assert.equal(decodeBatch(Buffer.alloc(0), 4), null);
  assert.equal(batchRoom(withAwaited([], 40, null).length, 4), 298);   // 40 targets: 298 OPENs to a datagram
  assert.equal(batchRoom(withAwaited([], 300, null).length, 8), 145);  // 300 targets: 145 EOFs
  assert.equal(batchRoom(1300, 4), 0);
});

test('a pack: its header names its files in order; decoded, each file has its place, and bytes that are no pack are refused', () => {
  const sizes = new Map([[3, 5], [9, 2], [4, 0]]);
  const sizeOf = (o: number): number | null => sizes.get(o) ?? null;
  const body = Buffer.from('hello' + 'hi');
  const pack = Buffer.concat([encodePackHeader([3, 9]), body]);
  assert.equal(pack.length, packHeaderLen(2) + 7);
  const files = decodePack(pack, sizeOf)!;
  assert.deepEqual(files, [{ object: 3, offset: 12, size: 5 }, { object: 9, offset: 17, size: 2 }]);
  assert.equal(pack.subarray(files[1].offset, files[1].offset + files[1].size).toString(), 'hi');
  assert.equal(decodePack(Buffer.concat([pack, Buffer.from('x')]), sizeOf), null, 'bytes after the last file');
  assert.equal(decodePack(pack.subarray(0, pack.length - 1), sizeOf), null, 'the last file cut short');
  assert.equal(decodePack(Buffer.concat([encodePackHeader([3, 3]), Buffer.from('hellohello')]), sizeOf), null, 'a file twice');
  assert.equal(decodePack(Buffer.concat([encodePackHeader([3, 7]), body]), sizeOf), null, 'an object that is no file of the manifest');
  assert.equal(decodePack(Buffer.concat([encodePackHeader([]), body]), sizeOf), null, 'no files');
  assert.equal(decodePack(Buffer.concat([encodePackHeader([3, 4]), Buffer.from('hello')]), sizeOf), null, 'an empty file (never packed: it needs no data)');
  const many = Buffer.alloc(4);
  many.writeUInt32BE(PACK_FILES + 1, 0);
  assert.equal(decodePack(Buffer.concat([many, Buffer.alloc(4 * (PACK_FILES + 1))]), sizeOf), null, 'more files than a pack holds');
  assert.equal(decodePack(Buffer.alloc(2), sizeOf), null);
  assert.equal(isPack(PACK_BASE), true);
  assert.equal(isPack(SEG_BASE), false, 'a manifest segment is no pack');
  assert.equal(isPack(PACK_BASE - 1), false, 'nor is an entry');
});
