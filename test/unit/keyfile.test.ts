import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { newKeyFile, readKeyFile } from '../../src/channel/keyfile';
import { UserError } from '../../src/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-key-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

test('a new key file is 0600, 64 hex characters, and never overwritten', () => {
  const f = path.join(dir, 'k1');
  newKeyFile(f);
  assert.equal(fs.statSync(f).mode & 0o777, 0o600);
  assert.match(fs.readFileSync(f, 'utf8'), /^[0-9a-f]{64}\n$/);
  const before = fs.readFileSync(f);
  assert.throws(() => newKeyFile(f), /exists \(not overwritten\)/);
  assert.deepEqual(fs.readFileSync(f), before);
});

test('the same key text gives the same 32-byte PSK; another text another', () => {
  const a = path.join(dir, 'a'); const b = path.join(dir, 'b'); const c = path.join(dir, 'c');
  fs.writeFileSync(a, 'x'.repeat(40) + '\n', { mode: 0o600 });
  fs.writeFileSync(b, 'x'.repeat(40), { mode: 0o600 }); // trailing newline does not matter
  fs.writeFileSync(c, 'y'.repeat(40), { mode: 0o600 });
  assert.equal(readKeyFile(a).length, 32);
  assert.deepEqual(readKeyFile(a), readKeyFile(b));
  assert.notDeepEqual(readKeyFile(a), readKeyFile(c));
});

test('loose permissions, short keys, directories and missing files are refused with the reason', () => {
  const f = path.join(dir, 'loose');
  fs.writeFileSync(f, 'z'.repeat(40), { mode: 0o600 });
  for (const mode of [0o640, 0o604, 0o660, 0o644]) {
    fs.chmodSync(f, mode);
    assert.throws(() => readKeyFile(f), (e: Error) => e instanceof UserError && /accessible by group or others .*chmod 600/.test(e.message));
  }
  fs.chmodSync(f, 0o400);
  assert.equal(readKeyFile(f).length, 32);
  const short = path.join(dir, 'short');
  fs.writeFileSync(short, 'tooshort\n', { mode: 0o600 });
  assert.throws(() => readKeyFile(short), /holds 8 characters; a key needs at least 32/);
  assert.throws(() => readKeyFile(dir), /not a regular file/);
  assert.throws(() => readKeyFile(path.join(dir, 'nope')), /no such file/);
});

test('a key file swapped after it is first looked at is never read unchecked; a FIFO is refused, not waited on', () => {
  const good = path.join(dir, 'swap-good');
  fs.writeFileSync(good, 'g'.repeat(40), { mode: 0o600 });
  const want = readKeyFile(good);
  const f = path.join(dir, 'swapped');
  fs.writeFileSync(f, 'g'.repeat(40), { mode: 0o600 });
  const loose = path.join(dir, 'swap-loose');
  fs.writeFileSync(loose, 'L'.repeat(40), { mode: 0o644 });
  // the first call that touches the path (by name) is followed at once by
  // the swap: a file others can write replaces the checked one
  const orig = { statSync: fs.statSync, lstatSync: fs.lstatSync, openSync: fs.openSync };
  let swapped = false;
  const hook = <A extends unknown[], R>(fn: (...a: A) => R) => (...a: A): R => {
    const r = fn(...a);
    if (!swapped && a[0] === f) { swapped = true; fs.renameSync(loose, f); }
    return r;
  };
  const m = fs as unknown as Record<string, unknown>;
  m.statSync = hook(orig.statSync as (...a: unknown[]) => unknown);
  m.lstatSync = hook(orig.lstatSync as (...a: unknown[]) => unknown);
  m.openSync = hook(orig.openSync as (...a: unknown[]) => unknown);
  let got: Buffer | Error;
  try {
    got = readKeyFile(f);
  } catch (e) {
    got = e as Error;
  } finally {
    Object.assign(fs, orig);
  }
  assert.ok(swapped, 'the key file was never looked at by name');
  // what was checked is what was read: the 0600 file's key (or a refusal), never the swapped-in text
  if (got instanceof Error) assert.match(got.message, /accessible by group or others/);
  else assert.deepEqual(got, want);

  const fifo = path.join(dir, 'fifo');
  spawnSync('mkfifo', ['-m', '600', fifo]);
  const t0 = Date.now();
  assert.throws(() => readKeyFile(fifo), (e: Error) => e instanceof UserError && /not a regular file/.test(e.message));
  assert.ok(Date.now() - t0 < 1000);
});
