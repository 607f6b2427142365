// The rate kept for the next push to the same targets (master/ratecache.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cachedRate, rateKey, saveRate } from '../../src/master/ratecache';

test('the rate a push settled at is what the next push to the same targets starts from; old, other or broken entries are not', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-ratecache-'));
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = dir;
  try {
    const k = rateKey('239.255.67.92', 'eth0', ['t2', 't1']);
    assert.equal(k, rateKey('239.255.67.92', 'eth0', ['t1', 't2']), 'the order of the targets does not matter');
    assert.notEqual(k, rateKey('239.255.67.92', 'eth0', ['t1', 't2', 't3']));
    assert.notEqual(k, rateKey('239.255.67.93', 'eth0', ['t1', 't2']));
    assert.equal(cachedRate(k), null, 'nothing kept yet');
    saveRate(k, { bps: 19.7e6, found: true }, 1000);
    assert.deepEqual(cachedRate(k, 2000), { bps: 19.7e6, found: true });
    const f = path.join(dir, 'mrsync', 'rates.json');
    assert.equal(fs.statSync(f).mode & 0o777, 0o600);
    assert.equal(cachedRate(k, 1000 + 31 * 24 * 3600 * 1000), null, 'a month old: found anew');
    saveRate(rateKey('g', 'i', ['x']), { bps: 5e6, found: false }, 3000);
    assert.deepEqual(cachedRate(k, 4000), { bps: 19.7e6, found: true }, 'another group\'s rate is kept beside it');
    assert.deepEqual(cachedRate(rateKey('g', 'i', ['x']), 4000), { bps: 5e6, found: false }, 'a rate reached, no bottleneck found');
    fs.writeFileSync(f, '{not json');
    assert.equal(cachedRate(k), null, 'a broken cache is no cache');
    saveRate(k, { bps: 50e6, found: true }, 5000);
    assert.deepEqual(cachedRate(k, 6000), { bps: 50e6, found: true }, 'and is written anew');
    fs.rmSync(path.join(dir, 'mrsync'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'mrsync'), 'a file where the directory goes');
    saveRate(k, { bps: 1e6, found: true }, 7000); // nothing fails for a cache that cannot be written
    assert.equal(cachedRate(k, 8000), null);
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME; else process.env.XDG_CACHE_HOME = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
