// The packet codec (native/wire.{h,cc}: header, HMAC tag, --encrypt's AES-GCM),
// through the addon's test probes seal() and open(): a golden datagram, and
// every truncation, extension, bit flip, other key and other version refused.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { native } from '../../src/native';

const KEY = Buffer.alloc(32, 1);
// seal(KEY, sender 0, type 3 (EOF), object 7, index 9, "hi"):
// version 3 << 5 | type, object, index, sender (a page's seq), payload, 96-bit tag
const FIXTURE = '63' + '00000007' + '00000009' + '0000' + '6869' + '4974538ec220b5ad4d19ac61';
const OVERHEAD = 11 + 12;

test('seal produces the documented layout and an HMAC-SHA256/96 tag', () => {
  const p = native.seal(KEY, 0, 3, 7, 9, Buffer.from('hi'));
  assert.equal(p.toString('hex'), FIXTURE);
  assert.equal(p.length, OVERHEAD + 2);
  const tag = crypto.createHmac('sha256', KEY).update(p.subarray(0, p.length - 12)).digest().subarray(0, 12);
  assert.deepEqual(p.subarray(p.length - 12), tag);
});

test('open accepts the fixture and returns its fields', () => {
  const o = native.open(KEY, Buffer.from(FIXTURE, 'hex'));
  assert.equal(o.error, undefined);
  assert.deepEqual([o.type, o.sender, o.object, o.index], [3, 0, 7, 9]);
  assert.equal(o.payload.toString(), 'hi');
});

test('every truncation or extension of a packet is refused', () => {
  // shorter than header and tag: malformed; longer: the tag covers the length
  // the datagram gives the payload, so a cut or a byte more fails it
  const p = Buffer.from(FIXTURE, 'hex');
  for (let n = 0; n < p.length; n++) {
    assert.equal(native.open(KEY, p.subarray(0, n)).error, n < OVERHEAD ? 'format' : 'auth', `length ${n}`);
  }
  assert.equal(native.open(KEY, Buffer.concat([p, Buffer.from([0])])).error, 'auth');
  const long = native.seal(KEY, 0, 1, 1, 0, crypto.randomBytes(1449));
  for (const n of [OVERHEAD, 100, 1000, long.length - 1]) assert.equal(native.open(KEY, long.subarray(0, n)).error, 'auth', `length ${n}`);
});

test('every single-bit forgery is refused', () => {
  const p = Buffer.from(FIXTURE, 'hex');
  for (let i = 0; i < p.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const q = Buffer.from(p);
      q[i] ^= 1 << bit;
      const o = native.open(KEY, q);
      assert.ok(o.error === 'auth' || o.error === 'format', `byte ${i} bit ${bit} accepted`);
    }
  }
});

test("the u16 at 9: a command's sender; pages are the master's", () => {
  const c = native.seal(KEY, 0x1234, 17, 1, 2, Buffer.alloc(4));
  assert.equal(c.readUInt16BE(9), 0x1234);
  assert.equal(native.open(KEY, c).sender, 0x1234);
  assert.throws(() => native.seal(KEY, 1, 1, 1, 0, Buffer.alloc(4)), /sender 0/);
  const p = native.open(KEY, native.seal(KEY, 0, 5, 1, 0x102, Buffer.alloc(4)));
  assert.deepEqual([p.type, p.sender, p.object, p.index], [5, 0, 1, 0x102]);
});

test('another version is malformed; types are 5 bits', () => {
  // the same bytes under version 2's first byte (version 2 had a byte of its own)
  for (const v of [0, 1, 2, 4, 7]) {
    const q = Buffer.from(FIXTURE, 'hex');
    q[0] = (v << 5) | 3;
    assert.equal(native.open(KEY, q).error, 'format', `version ${v}`);
  }
  assert.throws(() => native.seal(KEY, 0, 32, 1, 0, Buffer.alloc(1)), /5 bits/);
});

test("a packet under another key (another session's) is refused", () => {
  const p = native.seal(Buffer.alloc(32, 2), 0, 1, 1, 0, Buffer.alloc(100));
  assert.equal(native.open(KEY, p).error, 'auth');
});

test('an oversized datagram is refused', () => {
  assert.throws(() => native.seal(KEY, 0, 1, 1, 0, Buffer.alloc(65507)), /payload too large/);
  assert.equal(native.open(KEY, Buffer.alloc(70000)).error, 'format');
});

test('--encrypt packets: AES-256-GCM round trip, no plaintext on the wire, forgeries refused', () => {
  const secret = Buffer.from('the quarterly numbers, page 7');
  const p = native.seal(KEY, 3, 17, 4, 2, secret, 1234);
  assert.equal(p.length, 11 + 8 + secret.length + 12);
  assert.equal(p.includes(secret.subarray(0, 12)), false);
  assert.equal(p.readBigUInt64BE(11), 1234n, 'the counter travels in clear');
  const o = native.open(KEY, p, true);
  assert.equal(o.error, undefined);
  assert.deepEqual([o.type, o.sender, o.object, o.index], [17, 3, 4, 2]);
  assert.deepEqual(o.payload, secret);
  for (let i = 0; i < p.length; i++) {
    const q = Buffer.from(p);
    q[i] ^= 0x40;
    const r = native.open(KEY, q, true);
    assert.ok(r.error === 'auth' || r.error === 'format', `byte ${i} flipped and accepted`);
  }
  assert.equal(native.open(Buffer.alloc(32, 9), p, true).error, 'auth', 'another key');
  assert.equal(native.open(KEY, p).error, 'auth', 'not an HMAC packet');
  // same page, another counter: a different ciphertext
  assert.notDeepEqual(native.seal(KEY, 3, 17, 4, 2, secret, 1235).subarray(19, 31), p.subarray(19, 31));
});
