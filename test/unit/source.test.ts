// Reading the source and -c's hashing on a target, against a local user who
// swaps what they read (source.ts, Beneath.contentHash): a directory swapped
// for a symlink out of the tree, a file for another, a FIFO.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Beneath } from '../../src/catcher/beneath';
import { lstatHave } from '../../src/catcher/fsx';
import { ManifestSet, decodeManifest } from '../../src/wire/manifest';
import { ScanTotals, scanSegments } from '../../src/master/scan';
import { Listing, listDir, lstatAt, openFileBeneath, openRoot, readSmallFiles, sendFailure } from '../../src/master/source';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-source-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** src/{a,b,c}/f{1,2} (content "public"), and outside/f{1,2} (content "secret"), same sizes */
function tree(): { src: string; outside: string } {
  const base = path.join(tmp, `t${n++}`);
  const src = path.join(base, 'src');
  const outside = path.join(base, 'outside');
  for (const d of ['a', 'b', 'c']) {
    fs.mkdirSync(path.join(src, d), { recursive: true });
    for (const f of ['f1', 'f2']) fs.writeFileSync(path.join(src, d, f), 'public');
  }
  fs.mkdirSync(outside, { mode: 0o700 });
  for (const f of ['f1', 'f2', 'only-outside']) fs.writeFileSync(path.join(outside, f), 'secret');
  return { src, outside };
}

test('scan: a directory swapped for a symlink out of the tree while the scan runs is never read through', () => {
  const { src, outside } = tree();
  // one entry per segment: the generator stops after each entry, and the swap comes between two
  const gen = scanSegments(Buffer.from(src), {}, 1, 1);
  const set = new ManifestSet();
  const paths: string[] = [];
  let totals: ScanTotals | null = null;
  {
    for (;;) {
      const r = gen.next();
      if (r.done) { totals = r.value; break; }
      if (!('segment' in r.value)) continue;
      const m = decodeManifest(r.value.segment, set);
      for (let i = 0; i < m.length; i++) paths.push(m.path(i).toString());
      if (paths[paths.length - 1] === 'b') { // b listed (lstat said: a directory), not yet opened
        fs.renameSync(path.join(src, 'b'), path.join(src, 'b-real'));
        fs.symlinkSync(outside, path.join(src, 'b'));
      }
    }
  }
  assert.ok(!paths.some((p) => p.includes('only-outside')), `listed from outside: ${paths.join(' ')}`);
  // b is listed without its contents, named unreadable, and its listing kept from --delete; the scan went on to c
  assert.deepEqual(totals!.unreadable.map((u) => u.path), ['b']);
  assert.match(totals!.unreadable[0].error, /ELOOP|replaced|ENOTDIR|symlink/);
  assert.deepEqual(totals!.keep, [paths.indexOf('b')]);
  assert.ok(paths.includes('c/f2'), `the scan stopped: ${paths.join(' ')}`);
});

test('scan: what cannot be read (no permission, root without CAP_DAC_OVERRIDE) is counted and left out; the scan goes on', () => {
  const base = path.join(tmp, `t${n++}`);
  for (const d of ['src/open', 'src/closed', 'src/nox']) fs.mkdirSync(path.join(base, d), { recursive: true });
  for (const f of ['open/f', 'closed/f', 'nox/f', 'z']) fs.writeFileSync(path.join(base, 'src', f), 'data');
  fs.symlinkSync('z', path.join(base, 'src', 'link'));
  fs.chmodSync(path.join(base, 'src', 'closed'), 0o700);
  fs.chmodSync(path.join(base, 'src', 'nox'), 0o644); // listable, its entries cannot be looked at
  fs.chmodSync(path.join(base, 'src', 'z'), 0o600);
  for (const x of ['closed', 'closed/f', 'nox', 'nox/f', 'z']) fs.lchownSync(path.join(base, 'src', x), 65534, 65534);
  fs.chmodSync(base, 0o755);
  // a child process as root without the capabilities that pass file permissions (or as nobody when not root)
  const code = `const { scan } = require(${JSON.stringify(path.resolve(__dirname, '../../src/master/scan.js'))});
    const r = scan(Buffer.from(${JSON.stringify(path.join(base, 'src'))}), { checksum: true });
    const paths = []; for (let i = 0; i < r.manifest.length; i++) paths.push(r.manifest.path(i).toString());
    console.log(JSON.stringify({ paths, unreadable: r.unreadable, keep: r.keep }));`;
  const caps = process.getuid!() === 0 ? ['--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-all'] : [];
  const out = spawnSync('setpriv', [...caps, process.execPath, '-e', code], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const r = JSON.parse(out.stdout) as { paths: string[]; unreadable: Array<{ path: string; error: string }>; keep: number[] };
  assert.deepEqual(r.paths, ['.', 'closed', 'link', 'nox', 'open', 'open/f']);
  assert.deepEqual(r.unreadable.map((u) => u.path), ['closed', 'nox/f', 'z']);
  assert.ok(r.unreadable.every((u) => /EACCES/.test(u.error)), JSON.stringify(r.unreadable));
  // --delete leaves alone: closed (listed without contents), nox (an entry missing), the root (z missing)
  assert.deepEqual(r.keep, [0, r.paths.indexOf('closed'), r.paths.indexOf('nox')]);
});

test('scan records each file\'s inode; opening it for sending checks it against the scan', () => {
  const { src, outside } = tree();
  const gen = scanSegments(Buffer.from(src), {}, 1 << 20);
  const set = new ManifestSet();
  const ids = new Map<string, { dev: bigint; ino: bigint; size: number }>();
  for (;;) {
    const r = gen.next();
    if (r.done) break;
    if (!('segment' in r.value)) continue;
    const m = decodeManifest(r.value.segment, set);
    for (let i = 0; i < m.length; i++) ids.set(m.path(i).toString(), { dev: r.value.ids[2 * i], ino: r.value.ids[2 * i + 1], size: m.size(i) });
  }
  const root = openRoot(Buffer.from(src));
  const alone = (rel: string): string => {
    try {
      const { fd } = openFileBeneath(root, Buffer.from(rel), ids.get(rel)!);
      const text = fs.readFileSync(fd, 'utf8');
      fs.closeSync(fd);
      return text;
    } catch (e) {
      return String((e as NodeJS.ErrnoException).code);
    }
  };
  // a pack's files are read in one native call, with the same checks: each between two files that read well
  const packed = (rel: string): string => {
    const want = ids.get(rel)!, good = ids.get('a-real/f2') ?? ids.get('a/f2')!;
    const all = new BigUint64Array([good.dev, good.ino, want.dev, want.ino]);
    const goodRel = Buffer.from(fs.existsSync(path.join(src, 'a-real')) ? 'a-real/f2' : 'a/f2');
    const { contents, results } = readSmallFiles(root, [{ rel: goodRel, size: 6, entry: 0 }, { rel: Buffer.from(rel), size: want.size, entry: 1 },
      { rel: goodRel, size: 6, entry: 0 }], all);
    assert.deepEqual([results[0], results[2]], [{ offset: 0 }, { offset: 'offset' in results[1] ? 12 : 6 }]);
    const r = results[1];
    return 'offset' in r ? contents.subarray(r.offset, r.offset + want.size).toString() : String((r.error as NodeJS.ErrnoException).code);
  };
  const open = (rel: string): string => {
    const a = alone(rel), b = packed(rel);
    assert.equal(b, a, `${rel}: in a pack as alone`);
    return a;
  };
  try {
    assert.equal(open('a/f1'), 'public');
    // a directory on the way swapped for a symlink out of the tree
    fs.renameSync(path.join(src, 'a'), path.join(src, 'a-real'));
    fs.symlinkSync(outside, path.join(src, 'a'));
    assert.equal(open('a/f1'), 'ELOOP');
    // the file replaced by another (same name, same size)
    fs.renameSync(path.join(src, 'b', 'f1'), path.join(src, 'b', 'f1-old'));
    fs.writeFileSync(path.join(src, 'b', 'f1'), 'public');
    assert.equal(open('b/f1'), 'ERR_CHANGED');
    // grown since the scan
    fs.appendFileSync(path.join(src, 'b', 'f2'), '!');
    assert.equal(open('b/f2'), 'ERR_CHANGED');
    // a FIFO in its place: refused at once, not waited on
    fs.rmSync(path.join(src, 'c', 'f1'));
    spawnSync('mkfifo', [path.join(src, 'c', 'f1')]);
    const t0 = Date.now();
    assert.equal(open('c/f1'), 'ERR_CHANGED');
    assert.ok(Date.now() - t0 < 1000);
    // the file itself a symlink now
    fs.rmSync(path.join(src, 'c', 'f2'));
    fs.symlinkSync(path.join(outside, 'f2'), path.join(src, 'c', 'f2'));
    assert.equal(open('c/f2'), 'ELOOP');
    assert.throws(() => lstatAt(root, Buffer.from('nope'), Buffer.from('nope')), { code: 'ENOENT' });
  } finally {
    fs.closeSync(root);
  }
});

test('-c on a target: a file swapped after the lookup is not hashed (a FIFO is not waited on, a symlink not followed)', () => {
  const { src, outside } = tree();
  const t = Beneath.open(Buffer.from(src));
  try {
    const sha = (s: string): Buffer => crypto.createHash('sha256').update(s).digest();
    const have = t.at(Buffer.from('a/f1'), lstatHave)!;
    assert.deepEqual(t.contentHash(Buffer.from('a/f1'), have), sha('public'));
    // replaced by a symlink to a file outside with the content the manifest names
    fs.rmSync(path.join(src, 'a', 'f1'));
    fs.symlinkSync(path.join(outside, 'f1'), path.join(src, 'a', 'f1'));
    assert.equal(t.contentHash(Buffer.from('a/f1'), have), null);
    // replaced by a FIFO
    const h2 = t.at(Buffer.from('a/f2'), lstatHave)!;
    fs.rmSync(path.join(src, 'a', 'f2'));
    spawnSync('mkfifo', [path.join(src, 'a', 'f2')]);
    const t0 = Date.now();
    assert.equal(t.contentHash(Buffer.from('a/f2'), h2), null);
    assert.ok(Date.now() - t0 < 1000);
    // replaced by another regular file
    const h3 = t.at(Buffer.from('b/f1'), lstatHave)!;
    fs.renameSync(path.join(src, 'b', 'f1'), path.join(src, 'b', 'x'));
    fs.writeFileSync(path.join(src, 'b', 'f1'), 'public');
    assert.equal(t.contentHash(Buffer.from('b/f1'), h3), null);
  } finally {
    t.close();
  }
});

test('a file that cannot be opened for sending: gone or its path changed is a change (exit 2), no permission is unreadable (exit 23)', () => {
  const err = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  for (const code of ['ENOENT', 'ELOOP', 'EXDEV', 'ENOTDIR']) {
    const f = sendFailure(err(code));
    assert.equal(f.code, 'SOURCE_CHANGED', code);
    assert.ok(f.changed, code);
    assert.match(f.message, new RegExp(`^changed on the master since the scan \\(${code}: `));
  }
  for (const code of ['EACCES', 'EPERM', 'EIO']) {
    const f = sendFailure(err(code));
    assert.equal(f.code, 'SOURCE_UNREADABLE', code);
    assert.ok(!f.changed, code);
  }
});

test('Listing: a directory\'s names in byte order with their lstat in one call, as listDir and lstatAt give them one by one', () => {
  const dir = path.join(tmp, `listing${n++}`);
  fs.mkdirSync(dir);
  // more names than one getdents64 buffer holds, bytes above 0x7f, every kind
  for (let i = 0; i < 1500; i++) fs.writeFileSync(path.join(dir, `f${i}-${'x'.repeat(40)}`), 'y'.repeat(i % 7));
  fs.writeFileSync(Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0xe9, 0x41])]), '');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync('/etc/passwd', path.join(dir, 'link'));
  fs.linkSync(path.join(dir, 'f1-' + 'x'.repeat(40)), path.join(dir, 'hard'));
  const fd = openRoot(Buffer.from(dir));
  try {
    const l = Listing.of(fd, Buffer.from('.'));
    const want = listDir(fd).sort(Buffer.compare);
    assert.equal(l.names.length, 1504);
    assert.deepEqual(l.names, want);
    l.names.forEach((name, k) => assert.deepEqual(l.stat(k, name), lstatAt(fd, name, name), name.toString('latin1')));
    // read twice from the same descriptor: the same
    assert.deepEqual(Listing.of(fd, Buffer.from('.')).names, want);
  } finally {
    fs.closeSync(fd);
  }
  // not a directory: named, as a listing's failure is
  const file = fs.openSync(path.join(dir, 'hard'), 'r');
  try {
    assert.throws(() => Listing.of(file, Buffer.from('hard')), { code: 'ENOTDIR' });
  } finally {
    fs.closeSync(file);
  }
});
