import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Entry, Kind, ManifestSet, ManifestWriter, decodeManifest, encodeManifest } from '../../src/wire/manifest';
import { FIRST_SEGMENT, scan, scanSegments } from '../../src/master/scan';
import { ManifestError } from '../../src/errors';

function tree(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-unit-'));
  fs.mkdirSync(path.join(d, 'b/c'), { recursive: true });
  fs.writeFileSync(path.join(d, 'b/c/x'), 'xx');
  fs.writeFileSync(path.join(d, 'a'), '');
  fs.symlinkSync('b/c/x', path.join(d, 'ln'));
  fs.linkSync(path.join(d, 'b/c/x'), path.join(d, 'hard'));
  fs.writeFileSync(Buffer.concat([Buffer.from(d + '/'), Buffer.from([0x66, 0xe9, 0x0a])]), 'latin1+newline');
  return d;
}

test('scan lists the root first, parents before children, hardlinks after their leader', () => {
  const d = tree();
  try {
    const { manifest, bytes } = scan(Buffer.from(d));
    const entries = manifest.toArray();
    const names = entries.map((e) => e.path.toString('latin1'));
    assert.deepEqual(names, ['.', 'a', 'b', 'b/c', 'b/c/x', 'f\xe9\n', 'hard', 'ln']);
    const kinds = entries.map((e) => e.kind);
    assert.deepEqual(kinds, [Kind.Dir, Kind.File, Kind.Dir, Kind.Dir, Kind.File, Kind.File, Kind.Hardlink, Kind.Symlink]);
    assert.equal(entries[6].leader, 4);
    assert.equal(entries[7].link?.toString(), 'b/c/x');
    assert.equal(bytes, 2 + 14);
    assert.deepEqual(decodeManifest(encodeManifest(entries)).toArray(), entries);
    assert.deepEqual(manifest.bytes, encodeManifest(entries));
  } finally {
    fs.rmSync(d, { recursive: true });
  }
});

const root: Entry = { path: Buffer.from('.'), kind: Kind.Dir, size: 0, mode: 0o755, uid: 0, gid: 0, mtimeNs: 1n };
const file = (p: string, extra: Partial<Entry> = {}): Entry => ({ path: Buffer.from(p), kind: Kind.File, size: 3, mode: 0o644, uid: 0, gid: 0, mtimeNs: 2n, ...extra });

test('hostile manifests are refused with a reason', () => {
  const cases: Array<[string, Entry[]]> = [
    ['absolute name', [root, file('/etc/passwd')]],
    ["'..' component", [root, file('../x')]],
    ["'..' component", [root, { ...root, path: Buffer.from('d') }, file('d/../../x')]],
    ["'.' component", [root, file('./x')]],
    ['empty path component', [root, file('a//b')]],
    ['NUL in name', [root, file('a\0b')]],
    ['parent not listed', [root, file('nodir/x')]],
    ['parent not listed', [root, file('f'), file('f/x')]],
    ['the root must come first', [file('x')]],
    ['the root must come first', [root, root]],
    ['hardlink leader', [root, { ...file('h'), kind: Kind.Hardlink, size: 0, leader: 5 }]],
    ['hardlink leader', [root, { ...root, path: Buffer.from('d') }, { ...file('h'), kind: Kind.Hardlink, size: 0, leader: 1 }]],
    ['mode', [root, file('m', { mode: 0o170000 })]],
    ['size', [root, { ...root, path: Buffer.from('d'), size: 4 }]],
  ];
  for (const [why, entries] of cases) {
    assert.throws(() => decodeManifest(encodeManifest(entries)), (e: Error) => e.message.includes(why), why);
  }
});

test('impossible counts, truncation and trailing bytes are refused', () => {
  const good = encodeManifest([root, file('a'), { ...file('s'), kind: Kind.Symlink, size: 0, link: Buffer.from('a') }]);
  decodeManifest(good);
  const big = Buffer.from(good);
  big.writeUInt32BE(0xffffffff, 9); // claims 2^32-1 entries in a few bytes
  assert.throws(() => decodeManifest(big), /entry count/);
  const far = Buffer.from(good);
  far.writeUInt32BE(5, 5); // a segment that does not follow what came before
  assert.throws(() => decodeManifest(far), /segment out of order/);
  for (let n = 0; n < good.length; n++) assert.throws(() => decodeManifest(good.subarray(0, n)), /bad manifest/, `prefix ${n}`);
  assert.throws(() => decodeManifest(Buffer.concat([good, Buffer.from([0])])), /trailing/);
  const badMagic = Buffer.from(good);
  badMagic[0] ^= 1;
  assert.throws(() => decodeManifest(badMagic), /magic/);
});

// Every entry type and flag, as bytes on the wire (manifest.ts: magic "MRSM", version 3, first entry,
// count; per entry kind, flags, mode, uid, gid, size, mtime, path length, path, then a symlink's target,
// a hardlink's leader, a hash). Built by hand here, so a change to the encoding shows.
const GOLDEN_ENTRIES: Entry[] = [
  { path: Buffer.from('.'), kind: Kind.Dir, size: 0, mode: 0o755, uid: 0, gid: 0, mtimeNs: 1n, flags: 1 },
  { path: Buffer.from('a'), kind: Kind.File, size: 3, mode: 0o4755, uid: 1, gid: 2, mtimeNs: -1n, flags: 2, hash: Buffer.alloc(32, 0xab) },
  { path: Buffer.from('d'), kind: Kind.Dir, size: 0, mode: 0o700, uid: 0, gid: 0, mtimeNs: 0n, flags: 1 },
  { path: Buffer.from('d/s'), kind: Kind.Symlink, size: 0, mode: 0o777, uid: 0, gid: 0, mtimeNs: 0n, link: Buffer.from('../a') },
  { path: Buffer.from('h'), kind: Kind.Hardlink, size: 0, mode: 0o4755, uid: 1, gid: 2, mtimeNs: -1n, leader: 1 },
];
const hex = (...parts: string[]): string => parts.join('');
const entryHex = (kind: number, flags: number, mode: number, uid: number, gid: number, size: number, mtime: bigint, p: string): string =>
  hex(kind.toString(16).padStart(2, '0'), flags.toString(16).padStart(2, '0'), mode.toString(16).padStart(8, '0'),
    uid.toString(16).padStart(8, '0'), gid.toString(16).padStart(8, '0'), size.toString(16).padStart(16, '0'),
    BigInt.asUintN(64, mtime).toString(16).padStart(16, '0'), p.length.toString(16).padStart(4, '0'), Buffer.from(p).toString('hex'));
const GOLDEN = hex(
  '4d52534d', '03', '00000000', '00000005',
  entryHex(1, 1, 0o755, 0, 0, 0, 1n, '.'),
  entryHex(0, 2, 0o4755, 1, 2, 3, -1n, 'a'), 'ab'.repeat(32),
  entryHex(1, 1, 0o700, 0, 0, 0, 0n, 'd'),
  entryHex(2, 0, 0o777, 0, 0, 0, 0n, 'd/s'), '0004', Buffer.from('../a').toString('hex'),
  entryHex(3, 0, 0o4755, 1, 2, 0, -1n, 'h'), '00000001',
);

test('golden manifest bytes: every entry type and flag encodes as documented and decodes back', () => {
  const b = encodeManifest(GOLDEN_ENTRIES);
  assert.equal(b.toString('hex'), GOLDEN);
  const back = decodeManifest(Buffer.from(GOLDEN, 'hex')).toArray();
  assert.deepEqual(back.map((e) => [e.path.toString(), e.kind, e.flags ?? 0, e.mode, e.size, e.mtimeNs, e.link?.toString(), e.leader, e.hash?.toString('hex')]),
    GOLDEN_ENTRIES.map((e) => [e.path.toString(), e.kind, e.flags ?? 0, e.mode, e.size, e.mtimeNs, e.link?.toString(), e.leader, e.hash?.toString('hex')]));
});

test('golden manifest: every truncation is refused as a bad manifest (a hardlink\'s leader and a hash included)', () => {
  const g = Buffer.from(GOLDEN, 'hex');
  for (let n = 0; n < g.length; n++) {
    assert.throws(() => decodeManifest(g.subarray(0, n)), (e: Error) => e instanceof ManifestError, `prefix ${n} of ${g.length}`);
  }
});

test('flags only where they mean something: Hash on files, Whole and Implied on directories', () => {
  const root = GOLDEN_ENTRIES[0];
  const dirWithHash = { ...GOLDEN_ENTRIES[2], flags: 1 | 2, hash: Buffer.alloc(32) };
  const linkWithHash = { ...GOLDEN_ENTRIES[3], path: Buffer.from('s'), flags: 2, hash: Buffer.alloc(32) };
  const fileWhole = { ...GOLDEN_ENTRIES[1], flags: 1 };
  for (const bad of [dirWithHash, linkWithHash, fileWhole]) {
    assert.throws(() => decodeManifest(encodeManifest([root, bad])), (e: Error) => e instanceof ManifestError && /flags/.test(e.message), bad.path.toString());
  }
});

test('segments: a manifest in pieces reads as one; a refused segment leaves the set as it was', () => {
  const entries = [root, { ...file('d'), kind: Kind.Dir, size: 0 }, file('d/x'), file('d/y'), { ...file('h'), kind: Kind.Hardlink, size: 0, leader: 2 }];
  const w = new ManifestWriter();
  const set = new ManifestSet();
  w.push(entries[0]); w.push(entries[1]);
  decodeManifest(w.finish(), set);
  w.push(entries[2]);
  const second = w.finish();
  // a segment naming a parent never listed is refused and changes nothing
  const bad = new ManifestWriter();
  for (let i = 0; i < 2; i++) bad.push(entries[i]);
  bad.finish();
  bad.push(file('nodir/z'));
  assert.throws(() => decodeManifest(bad.finish(), set), /parent not listed/);
  assert.equal(set.length, 2);
  decodeManifest(second, set);
  w.push(entries[3]); w.push(entries[4]);
  decodeManifest(w.finish(), set);
  assert.equal(set.segments, 3);
  assert.deepEqual(set.toArray(), entries);
  assert.equal(set.path(3).toString(), 'd/y');
  assert.equal(set.size(2), entries[2].size);
});

test('the scan cuts small segments first, then four times bigger each, up to the limit; together they are the whole scan', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-unit-'));
  try {
    for (let i = 0; i < 1500; i++) fs.writeFileSync(path.join(d, `f${String(i).padStart(4, '0')}`), '');
    const sizes = (max: number): number[] => {
      const set = new ManifestSet();
      const gen = scanSegments(Buffer.from(d), {}, max);
      const out: number[] = [];
      for (let r = gen.next(); !r.done; r = gen.next()) if ('segment' in r.value) out.push(decodeManifest(r.value.segment, set).length);
      assert.equal(set.length, 1501); // the root and every file, in order, as scan() lists them
      assert.deepEqual(set.path(1500), scan(Buffer.from(d)).manifest.get(1500).path);
      return out;
    };
    assert.equal(FIRST_SEGMENT, 64);
    assert.deepEqual(sizes(4096), [64, 256, 1024, 157]);
    assert.deepEqual(sizes(300), [64, 256, 300, 300, 300, 281]);
    assert.deepEqual(sizes(7).slice(0, 3), [7, 7, 7]);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});
