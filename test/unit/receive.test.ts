// receive.ts: the temp files of one batch of events share their directory's
// descriptor (opened once beneath the root); a later batch opens it afresh,
// so a directory swapped for a symlink between batches is refused, never
// written through; every descriptor is closed once its files are renamed or
// removed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Beneath } from '../../src/catcher/beneath';
import { Mirror } from '../../src/catcher/mirror';
import { Receiving } from '../../src/catcher/receive';
import { Entry, Kind } from '../../src/wire/manifest';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-receive-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const entry = (p: string, size: number): Entry => ({ path: Buffer.from(p), kind: Kind.File, size, mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_700_000_000_000_000_000n });
const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

function setup(name: string) {
  const dst = path.join(tmp, name);
  fs.mkdirSync(path.join(dst, 'd'), { recursive: true });
  const tree = Beneath.open(Buffer.from(dst));
  const mirror = new Mirror(tree, { delete: false, backup: null, filters: [], checksum: false, dryRun: false }, false, { item: () => {}, warn: () => {} });
  const rx = new Receiving(tree, mirror, false, false);
  let opened = 0;
  const parentFd = tree.parentFd.bind(tree);
  tree.parentFd = (rel: Buffer): number => { opened++; return parentFd(rel); };
  return { dst, tree, mirror, rx, opened: () => opened };
}

test('the files of one batch share their directory; a later batch opens it again; all of it is closed at the end', () => {
  const { dst, tree, mirror, rx, opened } = setup('share');
  const before = openFds();
  for (let i = 0; i < 5; i++) fs.writeSync(rx.create(i, entry(`d/f${i}`, 3)), 'abc', 0);
  assert.equal(opened(), 1, 'five files in d, one batch: d opened once');
  rx.endTurn();
  fs.writeSync(rx.create(5, entry('d/f5', 3)), 'abc', 0);
  rx.create(6, entry('top', 0));
  assert.equal(opened(), 3, 'the next batch opens d again (and the root for top)');
  for (let i = 0; i < 6; i++) rx.commit(i, false);
  rx.discard(6);
  assert.deepEqual(fs.readdirSync(path.join(dst, 'd')).sort(), ['f0', 'f1', 'f2', 'f3', 'f4', 'f5'], 'every file at its final name, no temp file left');
  assert.equal(fs.readFileSync(path.join(dst, 'd/f3'), 'utf8'), 'abc');
  assert.ok(!fs.readdirSync(dst).some((n) => n.includes('.mrsync.')), 'the discarded temp file is gone');
  assert.equal(openFds(), before, 'every descriptor closed');
  mirror.close();
  tree.close();
});

test('a file discarded in the batch that opened its directory does not close it under the others', () => {
  const { dst, tree, mirror, rx, opened } = setup('discard');
  rx.create(1, entry('d/a', 0));
  rx.discard(1);
  fs.writeSync(rx.create(2, entry('d/b', 2)), 'ok', 0);
  rx.commit(2, false);
  assert.equal(fs.readFileSync(path.join(dst, 'd/b'), 'utf8'), 'ok');
  assert.ok(opened() >= 1);
  mirror.close();
  tree.close();
});

test('a directory swapped for a symlink between batches: the next file is refused, nothing is written through it', () => {
  const { dst, tree, mirror, rx } = setup('swap');
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside, { recursive: true });
  fs.writeSync(rx.create(1, entry('d/a', 1)), 'a', 0);
  rx.commit(1, false);
  rx.endTurn();
  fs.renameSync(path.join(dst, 'd'), path.join(dst, 'd-moved'));
  fs.symlinkSync(outside, path.join(dst, 'd'));
  assert.throws(() => rx.create(2, entry('d/b', 1)), /symlink or a path leaving the target tree/);
  assert.deepEqual(fs.readdirSync(outside), [], 'nothing created outside the root');
  mirror.close();
  tree.close();
});
