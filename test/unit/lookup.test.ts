// The planning lookups (Beneath.lookup: one open per directory, fstatat per
// entry) must see what lstat through Beneath.at sees, and refuse the same
// ways out of the tree.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestContext, test } from 'node:test';
import { Beneath, Lookup } from '../../src/beneath';
import { lstatHave, tempName, isTempName } from '../../src/fsx';
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
