import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Entry, Kind } from '../../src/wire/manifest';
import { Have, decide } from '../../src/catcher/plan';

const e = (kind: Kind, extra: Partial<Entry> = {}): Entry => ({
  path: Buffer.from('x'), kind, size: kind === Kind.File ? 10 : 0, mode: 0o644, uid: 1, gid: 2, mtimeNs: 100n, ...extra,
});
const h = (kind: Have['kind'], extra: Partial<Have> = {}): Have => ({
  kind, size: 10, mode: 0o644, uid: 1, gid: 2, mtimeNs: 100n, ino: 1n, dev: 1n, ...extra,
});
const own = { owner: true };
const noOwn = { owner: false };

test('files: quick check on size and mtime, metadata fixed in place', () => {
  assert.deepEqual(decide(e(Kind.File), null, own), { do: 'data' });
  assert.deepEqual(decide(e(Kind.File, { size: 0 }), null, own), { do: 'empty' });
  assert.deepEqual(decide(e(Kind.File), h('file'), own), { do: 'keep' });
  assert.deepEqual(decide(e(Kind.File), h('file', { size: 11 }), own), { do: 'data' });
  assert.deepEqual(decide(e(Kind.File), h('file', { mtimeNs: 101n }), own), { do: 'data' });
  assert.deepEqual(decide(e(Kind.File), h('file', { mode: 0o600 }), own), { do: 'meta' });
  assert.deepEqual(decide(e(Kind.File), h('file', { uid: 9 }), noOwn), { do: 'keep' });
  assert.deepEqual(decide(e(Kind.File), h('symlink'), own), { do: 'data' });
  assert.equal(decide(e(Kind.File), h('dir'), own).do, 'conflict');
});

test('files whose owner would change get their content from the master, not a chown of what is there', () => {
  // a local user plants a file with the source's size and mtime (or, with -c, its content); the
  // manifest says root, setuid: chown/chmod of her inode would make her content setuid root
  const suid = e(Kind.File, { uid: 0, gid: 0, mode: 0o4755 });
  const planted = h('file', { uid: 1000, gid: 1000, mode: 0o644 });
  assert.deepEqual(decide(suid, planted, own), { do: 'data' });
  assert.deepEqual(decide(suid, planted, { owner: true, sameContent: true }), { do: 'data' });
  assert.deepEqual(decide(e(Kind.File), h('file', { uid: 9 }), own), { do: 'data' });
  assert.deepEqual(decide(e(Kind.File), h('file', { gid: 9 }), own), { do: 'data' });
  assert.deepEqual(decide(e(Kind.File, { size: 0 }), h('file', { size: 0, uid: 9 }), own), { do: 'empty' });
  // the owner already the manifest's: mode and times are fixed in place, setuid included
  assert.deepEqual(decide(suid, h('file', { uid: 0, gid: 0, mode: 0o755 }), own), { do: 'meta' });
  assert.deepEqual(decide(suid, h('file', { uid: 0, gid: 0, mode: 0o4755, mtimeNs: 100n }), { owner: true, sameContent: true }), { do: 'keep' });
  // not root (owners are not set): nothing is chown'ed, the mode is the catcher user's to set on its own files
  assert.deepEqual(decide(suid, planted, noOwn), { do: 'meta' });
});

test('directories, symlinks and hardlinks', () => {
  assert.deepEqual(decide(e(Kind.Dir), null, own), { do: 'mkdir', clear: false });
  assert.deepEqual(decide(e(Kind.Dir), h('file'), own), { do: 'mkdir', clear: true });
  assert.deepEqual(decide(e(Kind.Dir), h('dir', { mtimeNs: 5n }), own), { do: 'keep' });
  assert.deepEqual(decide(e(Kind.Dir), h('dir', { mode: 0o700 }), own), { do: 'meta' });
  const ln = e(Kind.Symlink, { link: Buffer.from('t') });
  assert.deepEqual(decide(ln, null, own), { do: 'symlink' });
  assert.deepEqual(decide(ln, h('symlink', { link: Buffer.from('t') }), own), { do: 'keep' });
  assert.deepEqual(decide(ln, h('symlink', { link: Buffer.from('t'), mtimeNs: 1n }), own), { do: 'meta' });
  assert.deepEqual(decide(ln, h('symlink', { link: Buffer.from('u') }), own), { do: 'symlink' });
  assert.deepEqual(decide(ln, h('file'), own), { do: 'symlink' });
  assert.equal(decide(ln, h('dir'), own).do, 'conflict');
  assert.deepEqual(decide(e(Kind.Hardlink, { leader: 1 }), h('file'), own), { do: 'link' });
});
