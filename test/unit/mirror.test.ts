// mirror.ts: --delete acts only inside directories the source sends whole;
// a directory only partly listed (-l, --files-from: its parents) keeps what
// the list does not name. Backups go beside or under --backup-dir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Beneath } from '../../src/catcher/beneath';
import { scan } from '../../src/master/scan';
import { Mirror } from '../../src/catcher/mirror';
import { SyncParams } from '../../src/wire/session';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-mirror-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function dirs(): { src: string; dst: string } {
  const base = path.join(tmp, `t${n++}`);
  const src = path.join(base, 'src');
  const dst = path.join(base, 'dst');
  for (const d of [src, dst]) {
    fs.mkdirSync(path.join(d, 'part/sub'), { recursive: true });
    fs.mkdirSync(path.join(d, 'whole'), { recursive: true });
    fs.writeFileSync(path.join(d, 'part/listed'), 'x');
    fs.writeFileSync(path.join(d, 'part/sub/listed2'), 'x');
    fs.writeFileSync(path.join(d, 'whole/w'), 'x');
  }
  // only the target has these
  fs.writeFileSync(path.join(dst, 'part/unlisted'), 'keep me');
  fs.writeFileSync(path.join(dst, 'part/sub/unlisted2'), 'keep me too');
  fs.writeFileSync(path.join(dst, 'whole/extra'), 'goes');
  fs.writeFileSync(path.join(dst, 'top-extra'), 'stays: the root is only implied');
  return { src, dst };
}

function deleteWith(src: string, dst: string, select: { paths: Buffer[]; recursive: boolean } | undefined, sync: Partial<SyncParams> = {}): string[] {
  const { manifest } = scan(Buffer.from(src), { select });
  const tree = Beneath.open(Buffer.from(dst));
  const items: string[] = [];
  const m = new Mirror(tree, { delete: true, backup: null, filters: [], checksum: false, dryRun: false, ...sync }, false,
    { item: (l) => items.push(l), warn: () => {} });
  try {
    m.deleteExtraneous(manifest, () => false);
  } finally {
    m.close();
    tree.close();
  }
  return items;
}

test('--delete with a list: directories only partly listed keep what the list does not name', () => {
  const { src, dst } = dirs();
  // --files-from part/listed, part/sub/listed2: part and part/sub are parents, not sent whole
  const items = deleteWith(src, dst, { paths: [Buffer.from('part/listed'), Buffer.from('part/sub/listed2')], recursive: false });
  assert.deepEqual(items, []);
  assert.equal(fs.readFileSync(path.join(dst, 'part/unlisted'), 'utf8'), 'keep me');
  assert.equal(fs.readFileSync(path.join(dst, 'part/sub/unlisted2'), 'utf8'), 'keep me too');
  assert.ok(fs.existsSync(path.join(dst, 'top-extra')));
});

test('--delete with -l: a matched directory is sent whole and cleaned; its parents are not', () => {
  const { src, dst } = dirs();
  const items = deleteWith(src, dst, { paths: [Buffer.from('whole'), Buffer.from('part/listed')], recursive: true });
  assert.deepEqual(items, ['*deleting   whole/extra']);
  assert.ok(!fs.existsSync(path.join(dst, 'whole/extra')));
  assert.ok(fs.existsSync(path.join(dst, 'part/unlisted')));
  assert.ok(fs.existsSync(path.join(dst, 'top-extra')));
});

test('--delete on the whole tree removes everything the source does not have; -b --backup-dir keeps it under the tree', () => {
  const { src, dst } = dirs();
  const items = deleteWith(src, dst, undefined, { backup: { suffix: '', dir: 'bak' } });
  assert.deepEqual(items.sort(), ['*deleting   part/sub/unlisted2', '*deleting   part/unlisted', '*deleting   top-extra', '*deleting   whole/extra'].sort());
  assert.equal(fs.readFileSync(path.join(dst, 'bak/part/unlisted'), 'utf8'), 'keep me');
  assert.equal(fs.readFileSync(path.join(dst, 'bak/top-extra'), 'utf8'), 'stays: the root is only implied');
  assert.ok(!fs.existsSync(path.join(dst, 'whole/extra')));
});
