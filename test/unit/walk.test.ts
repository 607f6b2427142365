// openBeneath without openat2 (kernels before 5.6): the same answers as with
// it, for every way out of the tree; and the file-system security suites
// (Beneath, the source reader, --delete) pass again with the walk forced.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { native } from '../../src/native';

const { O_RDONLY, O_DIRECTORY, O_RDWR, O_CREAT, O_EXCL } = fs.constants;

/** openBeneath's answer for each case, in a child process (walk: MRSYNC_NO_OPENAT2=1): 'fd' or the errno's name. */
function answers(walk: boolean, root: string): Record<string, string> {
  const code = `const { native } = require(${JSON.stringify(path.resolve(__dirname, '../../src/native.js'))});
    const os = require('os'); const fs = require('fs');
    const names = Object.fromEntries(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));
    const dir = fs.openSync(${JSON.stringify(root)}, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const cases = ${JSON.stringify(cases())};
    const out = { used: String(native.openat2Used()) };
    for (const [name, p, flags, mode] of cases) {
      const fd = native.openBeneath(dir, Buffer.from(p), flags, mode);
      out[name] = fd >= 0 ? 'fd' : names[-fd];
      if (fd >= 0) { if (name.startsWith('create')) out[name] += ':' + (fs.fstatSync(fd).mode & 0o777).toString(8); fs.closeSync(fd); }
    }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, MRSYNC_NO_OPENAT2: walk ? '1' : '0' } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

function cases(): Array<[string, string, number, number]> {
  return [
    ['file', 'd/f', O_RDONLY, 0], ['dot', '.', O_RDONLY | O_DIRECTORY, 0], ['dir', 'd', O_RDONLY | O_DIRECTORY, 0],
    ['path-dir', 'd/e', native.O_PATH | O_DIRECTORY, 0], ['slashes', 'd//./f', O_RDONLY, 0],
    ['symlink-last', 'd/lf', O_RDONLY, 0], ['symlink-dir-last', 'd/ld', native.O_PATH | O_DIRECTORY, 0],
    ['symlink-middle', 'd/ld/x', O_RDONLY, 0], ['symlink-out', 'out/passwd', O_RDONLY, 0],
    ['dotdot', 'd/../d/f', O_RDONLY, 0], ['dotdot-out', '../x', O_RDONLY, 0], ['absolute', '/etc/passwd', O_RDONLY, 0],
    ['file-as-dir', 'd/f/x', O_RDONLY, 0], ['missing', 'd/none/x', O_RDONLY, 0],
    ['create', 'd/new', O_RDWR | O_CREAT | O_EXCL, 0o640], ['create-exists', 'd/f', O_RDWR | O_CREAT | O_EXCL, 0o600],
    ['create-over-symlink', 'd/dangling', O_RDWR | O_CREAT | O_EXCL, 0o600],
  ];
}

function tree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-walk-'));
  fs.mkdirSync(path.join(root, 'd', 'e'), { recursive: true });
  fs.writeFileSync(path.join(root, 'd', 'f'), 'hello');
  fs.symlinkSync('f', path.join(root, 'd', 'lf'));
  fs.symlinkSync('e', path.join(root, 'd', 'ld'));
  fs.symlinkSync('/etc', path.join(root, 'out'));
  fs.symlinkSync('/tmp/mrsync-walk-nowhere', path.join(root, 'd', 'dangling'));
  return root;
}

test('openBeneath without openat2: no symlink followed, nothing outside the tree, as openat2 answers', () => {
  const a = tree(), b = tree();
  try {
    const kernel = answers(false, a);
    const walk = answers(true, b);
    assert.equal(kernel.used, 'true');
    assert.equal(walk.used, 'false');
    for (const bad of ['symlink-last', 'symlink-dir-last', 'symlink-middle', 'symlink-out']) assert.equal(walk[bad], 'ELOOP', bad);
    for (const out of ['dotdot-out', 'absolute']) assert.equal(walk[out], 'EXDEV', out);
    assert.equal(walk.create, 'fd:640');
    assert.equal(walk['create-over-symlink'], 'EEXIST');
    assert.ok(!fs.existsSync('/tmp/mrsync-walk-nowhere'), 'a file was made through a dangling symlink');
    // the same as the kernel's answers, but for '..' that stays inside (openat2 allows it; the walk refuses every '..')
    const { used: _u1, dotdot: kd, ...k } = kernel;
    const { used: _u2, dotdot: wd, ...w } = walk;
    assert.deepEqual(w, k);
    assert.equal(kd, 'fd');
    assert.equal(wd, 'EXDEV');
  } finally {
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  }
});

test('the file-system security suites pass with the walk (MRSYNC_NO_OPENAT2=1)', () => {
  const files = ['beneath.test.js', 'source.test.js', 'mirror.test.js', 'receipt.test.js'].map((f) => path.join(__dirname, f));
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
    // a runner of its own (not this one's child protocol)
    encoding: 'utf8', env: { ...process.env, NODE_TEST_CONTEXT: undefined, MRSYNC_NO_OPENAT2: '1' }, timeout: 240_000,
  });
  assert.equal(r.status, 0, r.stdout.split('\n').filter((l) => /^not ok|Error|expected|actual/.test(l)).join('\n'));
  assert.match(r.stdout, /^# fail 0$/m);
});
