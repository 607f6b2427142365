// How each program starts: its bundle compiled from V8's code cache beside it (src/boot.ts).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import vm from 'node:vm';
import { readCache, writeCache } from '../../src/boot';

const BOOT = path.join(__dirname, '..', '..', 'src', 'boot.js');

/** A program "app" in a new directory: app.js starts app.app.js as bin/ starts a bundle. */
function program(source: string): { dir: string; run(args?: string[], env?: NodeJS.ProcessEnv): string; cache: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-boot-'));
  fs.writeFileSync(path.join(dir, 'app.js'), `require(${JSON.stringify(BOOT)}).start('app', __dirname);\n`);
  fs.writeFileSync(path.join(dir, 'app.app.js'), source);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return {
    dir,
    cache: path.join(dir, 'app.v8cache'),
    run: (nodeArgs = [], more = {}) => execFileSync(process.execPath, [...nodeArgs, path.join(dir, 'app.js'), 'x', 'y'], { env: { ...env, ...more }, encoding: 'utf8' }),
  };
}

// what the program sees of itself: its output names the text it was built from
const APP = (word: string) => `
const path = require('node:path');
function say() { return '${word}'; }
const wait = Number(process.env.WAIT_MS || 0);
setTimeout(() => console.log(say(), path.basename(__filename), path.basename(__dirname) === path.basename(module.paths[0].slice(0, -13)), process.argv.slice(2).join(',')), wait);
`;

const ino = (f: string) => { const s = fs.statSync(f); return `${s.ino}:${s.mtimeMs}`; };

test('a program writes its code cache on its first run and starts from it after; a changed bundle never runs from the old cache', () => {
  const p = program(APP('alpha'));
  try {
    assert.equal(p.run(), 'alpha app.app.js true x,y\n', 'the bundle runs as the main module, with its own file, directory, module paths and arguments');
    assert.equal(fs.statSync(p.cache).mode & 0o777, 0o644, 'the first run made the cache');
    const made = ino(p.cache);
    assert.equal(p.run(), 'alpha app.app.js true x,y\n');
    assert.equal(ino(p.cache), made, 'a run no longer than the one that made it leaves the cache as it is');

    // the same length, other text: V8's own check (the length) would take the old code
    fs.writeFileSync(path.join(p.dir, 'app.app.js'), APP('omega'));
    assert.equal(p.run(), 'omega app.app.js true x,y\n', 'the rebuilt bundle runs, not the cached one');
    const remade = ino(p.cache);
    assert.notEqual(remade, made, 'and its run made a new cache');
    assert.equal(p.run(), 'omega app.app.js true x,y\n');

    // a run twice as long as the maker's (a push after --version) makes it again: it has compiled more
    assert.equal(p.run([], { WAIT_MS: '400' }), 'omega app.app.js true x,y\n');
    const longer = ino(p.cache);
    assert.notEqual(longer, remade, 'a longer run rewrote the cache');
    assert.equal(p.run(), 'omega app.app.js true x,y\n');
    assert.equal(ino(p.cache), longer, 'a short run after it does not');

    // damaged data: ignored, the program runs from its source and writes a good cache
    const buf = fs.readFileSync(p.cache);
    buf[buf.length - 10] ^= 0xff;
    fs.writeFileSync(p.cache, buf);
    assert.equal(p.run(), 'omega app.app.js true x,y\n');
    assert.ok(!fs.readFileSync(p.cache).equals(buf), 'the damaged cache was replaced');

    // a whole cache for this source whose data V8 rejects (made for other code): the program runs from
    // its source, and writes a cache V8 takes
    const other = new vm.Script(Module.wrap(`${APP('omega')}// other code, another length`)).createCachedData();
    writeCache(p.cache, crypto.createHash('sha256').update(APP('omega')).digest(), other, 1e9);
    const planted = ino(p.cache);
    assert.equal(p.run(), 'omega app.app.js true x,y\n');
    assert.notEqual(ino(p.cache), planted, 'the rejected cache was replaced, though its maker ran longer');

    // started with V8 flags: no cache written (nor read)
    fs.rmSync(p.cache);
    assert.equal(p.run(['--no-lazy']), 'omega app.app.js true x,y\n');
    assert.ok(!fs.existsSync(p.cache), 'a run with flags wrote no cache');
    assert.equal(p.run([], { NODE_OPTIONS: '--max-old-space-size=500' }), 'omega app.app.js true x,y\n');
    assert.ok(!fs.existsSync(p.cache), 'nor one with NODE_OPTIONS');
  } finally {
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

test('a bundle that is not there: one line, exit 4', () => {
  const p = program(APP('alpha'));
  try {
    fs.rmSync(path.join(p.dir, 'app.app.js'));
    assert.throws(() => p.run(), (e: Error & { status: number; stderr: string }) =>
      e.status === 4 && /^app: cannot read .*app\.app\.js \(ENOENT\): rebuild or reinstall \(npm install\)\n$/.test(e.stderr));
  } finally {
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

test('the cache is written through no link, and only where this user owns the directory', { skip: process.geteuid?.() !== 0 && 'needs root (chown)' }, () => {
  const p = program(APP('alpha'));
  try {
    // a link at the cache's name: replaced by the cache, its target untouched
    const victim = path.join(p.dir, 'victim');
    fs.writeFileSync(victim, 'keep');
    fs.symlinkSync(victim, p.cache);
    assert.equal(p.run(), 'alpha app.app.js true x,y\n');
    assert.equal(fs.readFileSync(victim, 'utf8'), 'keep');
    assert.ok(fs.lstatSync(p.cache).isFile(), 'the link was replaced by the cache');
    assert.deepEqual(fs.readdirSync(p.dir).sort(), ['app.app.js', 'app.js', 'app.v8cache', 'victim'], 'no temp file left');

    // a directory another user owns: root neither writes a cache there nor reads root's
    fs.rmSync(p.cache);
    fs.chownSync(p.dir, 65534, 65534);
    assert.equal(p.run(), 'alpha app.app.js true x,y\n');
    assert.ok(!fs.existsSync(p.cache), 'no cache written in another user\'s directory');
  } finally {
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

test('readCache takes only a whole cache for this source, made by the directory\'s owner and writable by no one else', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-boot-'));
  try {
    const uid = fs.statSync(dir).uid;
    const file = path.join(dir, 'x.v8cache');
    const src = crypto.createHash('sha256').update('source').digest();
    const data = crypto.randomBytes(5000);
    writeCache(file, src, data, 123.5);
    assert.deepEqual(readCache(file, uid, src), { data, madeAfterMs: 123.5 });
    assert.equal(readCache(file, uid, crypto.createHash('sha256').update('other').digest()), undefined, 'another source');
    assert.equal(readCache(file, uid + 1, src), undefined, 'made by someone other than the directory\'s owner');
    fs.chmodSync(file, 0o664);
    assert.equal(readCache(file, uid, src), undefined, 'group-writable');
    fs.chmodSync(file, 0o644);
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, whole.length - 1));
    assert.equal(readCache(file, uid, src), undefined, 'truncated');
    fs.writeFileSync(file, whole);
    assert.deepEqual(readCache(file, uid, src)?.data, data);
    fs.renameSync(file, path.join(dir, 'real'));
    fs.symlinkSync(path.join(dir, 'real'), file);
    assert.equal(readCache(file, uid, src), undefined, 'a link');
    assert.equal(readCache(path.join(dir, 'none'), uid, src), undefined, 'none');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an older node (a distribution\'s, on a target): one line naming it and the version needed, exit 4, before the program runs', () => {
  const p = program(APP('old'));
  const old = path.join(p.dir, 'node18.js');
  fs.writeFileSync(old, "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '18.19.0' } });\n" +
    "Object.defineProperty(process, 'version', { value: 'v18.19.0' });\n");
  try {
    const r = spawnSync(process.execPath, ['-r', old, path.join(p.dir, 'app.js')], { encoding: 'utf8' });
    assert.equal(r.status, 4);
    assert.equal(r.stdout, '', 'the program did not run');
    assert.equal(r.stderr, `app: needs Node.js 20 or newer; the node on the PATH (${process.execPath}) is v18.19.0\n`);
    assert.equal(fs.existsSync(p.cache), false, 'no cache written');
    assert.match(p.run(), /old/, 'this node runs it');
  } finally {
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});
