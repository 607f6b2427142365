// Property-based fuzzing of the decoders that read network bytes: whatever
// the bytes, they either return a well-formed value or refuse cleanly (a
// ManifestError / null), never throw anything else, never accept a path a
// catcher must not write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Entry, Kind, decodeManifest, encodeManifest } from '../../src/wire/manifest';
import { native } from '../../src/native';
import { pathProblem } from '../../src/wire/paths';
import { decodeCheck, decodeDone, decodeMissing, decodeSums, encodeCheck, encodeSums, isAwaited, splitAwaited, withAwaited } from '../../src/wire/protocol';
import { MasterSigner, MasterVerifier } from '../../src/wire/signing';
import { FAILURE_CODES } from '../../src/errors';
import { validateSession } from '../../src/wire/session';
import { validateRttSession } from '../../src/rtt/session';
import { ManifestError } from '../../src/errors';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10000);

test('manifest decoder: random bytes are refused cleanly, behind a valid head too', () => {
  // a valid head (magic "MRSM", version 3, first entry 0, a small count), so the entries' decoding is reached
  const head = (count: number): Buffer => Buffer.concat([Buffer.from('4d52534d03', 'hex'), Buffer.alloc(4), Buffer.from([0, 0, 0, count])]);
  fc.assert(fc.property(fc.boolean(), fc.integer({ min: 1, max: 6 }), fc.uint8Array({ maxLength: 400 }), (withHead, count, bytes) => {
    const b = withHead ? Buffer.concat([head(count), Buffer.from(bytes)]) : Buffer.from(bytes);
    try {
      const m = decodeManifest(b);
      for (const e of m.toArray()) assert.equal(pathProblem(e.path), null);
    } catch (e) {
      assert.ok(e instanceof ManifestError, String(e));
    }
  }), { numRuns: RUNS });
});

const name = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((a) => Buffer.from(a));
const entryArb: fc.Arbitrary<Entry> = fc.record({
  path: name,
  kind: fc.constantFrom(Kind.File, Kind.Dir, Kind.Symlink, Kind.Hardlink),
  size: fc.nat(1 << 30),
  mode: fc.nat(0o7777),
  uid: fc.nat(),
  gid: fc.nat(),
  mtimeNs: fc.bigInt(-(2n ** 62n), 2n ** 62n),
  link: fc.option(name, { nil: undefined }),
  leader: fc.option(fc.nat(10), { nil: undefined }),
});

test('manifest decoder: mutated valid manifests are either refused or yield only safe names', () => {
  const root: Entry = { path: Buffer.from('.'), kind: Kind.Dir, size: 0, mode: 0o755, uid: 0, gid: 0, mtimeNs: 0n };
  fc.assert(fc.property(fc.array(entryArb, { maxLength: 6 }), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), (entries, flips) => {
    const fixed = entries.map((e) => ({ ...e, size: e.kind === Kind.File ? e.size : 0, link: e.kind === Kind.Symlink ? (e.link ?? Buffer.from('t')) : undefined }));
    const buf = encodeManifest([root, ...fixed]);
    for (const [at, v] of flips) if (buf.length) buf[at % buf.length] = v;
    let out: Entry[];
    try {
      out = decodeManifest(buf).toArray();
    } catch (e) {
      assert.ok(e instanceof ManifestError, String(e));
      return;
    }
    for (const e of out) {
      assert.equal(pathProblem(e.path), null);
      assert.ok(e.mode <= 0o7777);
      if (e.kind === Kind.Hardlink) assert.equal(out[e.leader!].kind, Kind.File);
    }
  }), { numRuns: RUNS });
});

test('control payload decoders: null or a value within bounds', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(1 << 20), (bytes, pages) => {
    const b = Buffer.from(bytes);
    const m = decodeMissing(b, pages);
    if (m) {
      assert.ok(m.total <= pages);
      for (let i = 0; i < m.runs.length; i += 2) assert.ok(m.runs[i] + m.runs[i + 1] <= pages);
    }
    const d = decodeDone(b);
    if (d) assert.ok(d.code >= 0 && d.code < FAILURE_CODES.length);
    const w = splitAwaited(b);
    if (w) {
      assert.equal(w.awaited.length + w.rest.length + 2, b.length);
      for (const t of [0, 1, 9, 65536]) isAwaited(w.awaited, t); // never throws
    }
    const c = decodeCheck(b, pages);
    if (c) {
      assert.ok(c.from < c.to && c.to <= pages);
      assert.deepEqual(encodeCheck(c.from, c.to), b);
    }
  }), { numRuns: RUNS });
});

test('session headers: anything but a valid header is refused', () => {
  fc.assert(fc.property(fc.anything(), (x) => {
    for (const v of [validateSession, validateRttSession]) {
      let accepted = false;
      try {
        v(x);
        accepted = true;
      } catch (e) {
        assert.ok(e instanceof Error, String(e));
      }
      assert.equal(accepted, false, `accepted an arbitrary value: ${JSON.stringify(x)}`);
    }
  }), { numRuns: RUNS });
});

test('signed Sums: random or mutated payloads never verify; the master\'s do', () => {
  const signer = new MasterSigner();
  const verifier = new MasterVerifier(signer.publicKey);
  const other = new MasterSigner(); // a target holding the session key, not the master's signing key
  const good = encodeSums([[5, Buffer.alloc(32, 1)], [9, Buffer.alloc(32, 2)]], 3, signer);
  assert.deepEqual(decodeSums(good, 3, verifier), [[5, Buffer.alloc(32, 1)], [9, Buffer.alloc(32, 2)]]);
  assert.equal(decodeSums(good, 4, verifier), null, 'another index');
  assert.equal(decodeSums(encodeSums([[5, Buffer.alloc(32, 1)]], 3, other), 3, verifier), null, 'signed by another key');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, index) => {
    assert.equal(decodeSums(Buffer.from(bytes), index, verifier), null);
  }), { numRuns: Math.min(RUNS, 2000) });
  fc.assert(fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
    const b = Buffer.from(good);
    b[at] ^= x;
    assert.equal(decodeSums(b, 3, verifier), null, `byte ${at} changed and accepted`);
  }), { numRuns: Math.min(RUNS, 2000) });
});

test('native packet opener: random datagrams never pass the tag', () => {
  const key = Buffer.alloc(32, 7);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1600 }), (bytes) => {
    const r = native.open(key, Buffer.from(bytes));
    assert.ok(r.error === 'format' || r.error === 'auth');
  }), { numRuns: RUNS });
});

test('awaited bitmaps: exactly the targets named answer', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.uniqueArray(fc.integer({ min: 1, max: 300 })), fc.uint8Array({ maxLength: 40 }),
    (n, ids, rest) => {
      const mine = ids.filter((t) => t <= n);
      const w = splitAwaited(withAwaited(mine, n, Buffer.from(rest)));
      assert.ok(w);
      assert.deepEqual(w.rest, Buffer.from(rest));
      for (let t = 0; t <= n + 8; t++) assert.equal(isAwaited(w.awaited, t), mine.includes(t), `target ${t}`);
    }), { numRuns: RUNS });
});
