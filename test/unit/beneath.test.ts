// The planning lookups (Beneath.lookup: one open per directory, fstatat per
// entry) must see what lstat through Beneath.at sees, and refuse the same
// ways out of the tree.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestContext, test } from 'node:test';
import { Beneath, Lookup } from '../../src/catcher/beneath';
import { lstatHave, splitNs, tempName, isTempName } from '../../src/catcher/fsx';
import { native } from '../../src/native';

function tree(): string {
  const t = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-lookup-'));
  fs.mkdirSync(path.join(t, 'd/e'), { recursive: true });
  fs.writeFileSync(path.join(t, 'd/f'), 'hello');
  fs.chmodSync(path.join(t, 'd/f'), 0o640);
  fs.utimesSync(path.join(t, 'd/f'), 1000, 1_700_000_000.123456);
  fs.symlinkSync('../elsewhere', path.join(t, 'd/l'));
  fs.linkSync(path.join(t, 'd/f'), path.join(t, 'd/e/hard'));
  fs.writeFileSync(path.join(t, 'top'), '');
  fs.symlinkSync('/etc', path.join(t, 'out')); // a directory reached through a symlink: refused
  return t;
}

/** fn(lookup, tree, root) on a fresh tree(); both closed and the tree removed after. */
function withLookup(t: TestContext, fn: (l: Lookup, b: Beneath, root: string) => void): void {
  const root = tree();
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const b = Beneath.open(Buffer.from(root));
  const l = b.lookup();
  try {
    fn(l, b, root);
  } finally {
    l.close();
    b.close();
  }
}

test('lookup sees what lstat through Beneath.at sees, for every kind of entry', (t) => {
  withLookup(t, (l, b, root) => {
    for (const rel of ['.', 'd', 'd/f', 'd/l', 'd/e', 'd/e/hard', 'top', 'out', 'd/missing', 'missing']) {
      const r = Buffer.from(rel);
      assert.deepEqual(l.have(r), b.at(r, lstatHave), rel);
    }
    const f = l.have(Buffer.from('d/f'))!;
    assert.equal(f.kind, 'file');
    assert.equal(f.size, 5);
    assert.equal(f.mode, 0o640);
    assert.equal(f.mtimeNs, fs.lstatSync(path.join(root, 'd/f'), { bigint: true }).mtimeNs);
    const h = l.have(Buffer.from('d/e/hard'))!;
    assert.equal(h.ino, f.ino);
    assert.equal(h.dev, f.dev);
    assert.equal(l.have(Buffer.from('d/l'))!.link!.toString(), '../elsewhere');
  });
});

test('lookup goes through no symlink and out of no tree, and forgets directories on close', (t) => {
  withLookup(t, (l, _b, root) => {
    assert.throws(() => l.have(Buffer.from('out/passwd')), (e: NodeJS.ErrnoException) => e.code === 'ELOOP');
    assert.throws(() => l.have(Buffer.from('d/l/x')), (e: NodeJS.ErrnoException) => e.code === 'ELOOP');
    assert.throws(() => l.have(Buffer.from('top/x')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
    assert.equal(l.have(Buffer.from('d/f'))!.size, 5);
    // the directory replaced while held: a held descriptor still sees the old one until close()
    fs.renameSync(path.join(root, 'd'), path.join(root, 'old'));
    fs.mkdirSync(path.join(root, 'd'));
    assert.equal(l.have(Buffer.from('d/f'))!.size, 5);
    l.close();
    assert.equal(l.have(Buffer.from('d/f')), null);
  });
});

test('lstatAt takes one name, no path', () => {
  const out = new Float64Array(10);
  const d = fs.openSync('/', native.O_PATH | fs.constants.O_DIRECTORY);
  try {
    assert.equal(native.lstatAt(d, Buffer.from('etc/passwd'), out), -os.constants.errno.EINVAL);
    assert.equal(native.lstatAt(d, Buffer.from(''), out), -os.constants.errno.EINVAL);
    assert.equal(native.lstatAt(d, Buffer.from('etc'), out), 0);
    assert.equal(out[0] & 0o170000, 0o040000);
    assert.throws(() => native.lstatAt(d, Buffer.from('etc'), new Float64Array(4)), /lstatAt/);
  } finally {
    fs.closeSync(d);
  }
});

test('temp names stay distinct and recognisable when drawn from the pool', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const n = tempName(Buffer.from('dir/file.txt'));
    assert.ok(isTempName(n), n.toString());
    assert.ok(n.toString().startsWith('.file.txt.mrsync.'));
    seen.add(n.toString());
  }
  assert.equal(seen.size, 2000);
});

test('commitFile: owner, mode, mtime to the ns, close and rename in one call; a failed step is named, the fd closed all the same', (t) => {
  withLookup(t, (_l, b, root) => {
    const rel = Buffer.from('d/new');
    const dirfd = b.parentFd(rel);
    t.after(() => fs.closeSync(dirfd));
    const tmp = tempName(rel);
    const fd = native.openBeneath(dirfd, tmp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    assert.ok(fd >= 0);
    fs.writeSync(fd, 'content');
    const [sec, nsec] = splitNs(1_700_000_000_123_456_789n);
    const me = process.getuid?.() === 0;
    const step = new Int32Array(1);
    assert.equal(native.commitFile(fd, me, 12345, 54321, 0o4751, sec, nsec, dirfd, tmp, Buffer.from('new'), step), 0);
    assert.throws(() => fs.fstatSync(fd), /EBADF/);
    const st = fs.lstatSync(path.join(root, 'd/new'), { bigint: true });
    assert.equal(fs.readFileSync(path.join(root, 'd/new'), 'utf8'), 'content');
    assert.equal(Number(st.mode & 0o7777n), 0o4751);
    assert.equal(st.mtimeNs, 1_700_000_000_123_456_789n);
    if (me) assert.deepEqual([st.uid, st.gid], [12345n, 54321n]);
    assert.ok(!fs.existsSync(path.join(root, 'd', tmp.toString('latin1'))));
    // a directory with something in it is in the way: the rename (step 5) fails, the fd is closed, the temp stays
    const fd2 = native.openBeneath(dirfd, tmp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    const r = native.commitFile(fd2, false, 0, 0, 0o644, sec, nsec, dirfd, tmp, Buffer.from('e'), step);
    assert.ok(r < 0);
    assert.equal(step[0], 5);
    assert.ok([os.constants.errno.ENOTEMPTY, os.constants.errno.EISDIR, os.constants.errno.EEXIST].includes(-r), String(-r));
    assert.throws(() => fs.fstatSync(fd2), /EBADF/);
    assert.ok(fs.existsSync(path.join(root, 'd', tmp.toString('latin1'))));
    // names must be single components
    const fd3 = native.openBeneath(dirfd, Buffer.from('x3'), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    const r3 = native.commitFile(fd3, false, 0, 0, 0o644, sec, nsec, dirfd, Buffer.from('x3'), Buffer.from('../escape'), step);
    assert.deepEqual([step[0], -r3], [5, os.constants.errno.EINVAL]);
    assert.ok(!fs.existsSync(path.join(root, 'escape')));
  });
});

test('placeFiles: small files from one buffer, each through its own temp file, with owner, mode and mtime; a failed one is named by step and leaves nothing', (t) => {
  withLookup(t, (_l, b, root) => {
    const dirfd = b.parentFd(Buffer.from('d/x'));
    t.after(() => fs.closeSync(dirfd));
    const bytes = Buffer.from('aaaaBBBBBBccc');
    const me = process.getuid?.() === 0;
    const [sec, nsec] = splitNs(1_700_000_000_123_456_789n);
    // a, b, then: 'e' (a directory with something in it: the rename fails), 'bad/name' (not one component),
    // 'f' (replaced: an existing file), a range past the buffer's end
    const files: [string, number, number, number][] = [['a', 0, 4, 0o640], ['b', 4, 6, 0o4755], ['e', 10, 3, 0o644],
      ['bad/name', 10, 3, 0o644], ['f', 10, 3, 0o600], ['g', 10, 30, 0o644]];
    const names = Buffer.from(files.map((f) => f[0]).join(''));
    const meta = new Float64Array(10 * files.length);
    let at = 0;
    files.forEach(([n, off, size, mode], i) => {
      meta.set([dirfd, off, size, 12345, 54321, mode, sec, nsec, at, n.length], 10 * i);
      at += n.length;
    });
    const out = new Int32Array(2 * files.length);
    assert.equal(native.placeFiles(bytes, meta, names, me, out), 3);
    const read = (n: string): string => fs.readFileSync(path.join(root, 'd', n), 'latin1');
    assert.deepEqual([read('a'), read('b'), read('f')], ['aaaa', 'BBBBBB', 'ccc']);
    const st = fs.lstatSync(path.join(root, 'd/b'), { bigint: true });
    assert.equal(Number(st.mode & 0o7777n), 0o4755);
    assert.equal(st.mtimeNs, 1_700_000_000_123_456_789n);
    if (me) assert.deepEqual([st.uid, st.gid], [12345n, 54321n]);
    assert.equal(out[4], 7); // e: renameat
    assert.ok([os.constants.errno.ENOTEMPTY, os.constants.errno.EISDIR, os.constants.errno.EEXIST].includes(out[5]), String(out[5]));
    assert.deepEqual([...out.subarray(6, 8)], [1, os.constants.errno.EINVAL]); // bad/name: never opened
    assert.deepEqual([...out.subarray(10, 12)], [1, os.constants.errno.EINVAL]); // past the end
    assert.deepEqual([out[0], out[2], out[8]], [0, 0, 0]);
    // no temp file is left, the failed ones' included; nothing went outside d
    assert.deepEqual(fs.readdirSync(path.join(root, 'd')).filter((n) => isTempName(Buffer.from(n))), []);
    assert.ok(!fs.existsSync(path.join(root, 'd/g')));
    // a directory descriptor that is not one: open fails, named
    const bad = new Float64Array([-1, 0, 1, 0, 0, 0o644, sec, nsec, 0, 1]);
    assert.equal(native.placeFiles(bytes, bad, Buffer.from('z'), false, out), 0);
    assert.deepEqual([out[0], out[1]], [1, os.constants.errno.EBADF]);
  });
});

test('splitNs: seconds and nanoseconds of a timespec, before 1970 too', () => {
  assert.deepEqual(splitNs(1_700_000_000_123_456_789n), [1_700_000_000, 123_456_789]);
  assert.deepEqual(splitNs(-1n), [-1, 999_999_999]);
  assert.deepEqual(splitNs(-1_500_000_000n), [-2, 500_000_000]);
  assert.deepEqual(splitNs(0n), [0, 0]);
});
