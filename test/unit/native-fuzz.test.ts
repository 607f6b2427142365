// A short coverage-guided run (libFuzzer + ASan/UBSan) of the native packet
// codec, --encrypt's AEAD, page bitmap, erasure code and receiving sinks (the packet codec and bitmap on their kept corpus). Needs clang and
// libclang-rt-14-dev (.ci/run installs them); skipped, with the reason, without.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const dir = path.resolve(__dirname, '..', '..', '..', 'native', 'fuzz');
const clang = spawnSync('clang++', ['--version'], { encoding: 'utf8' }).status === 0;
const secs = process.env.FUZZ_SECS ?? '10';

test('libFuzzer: packet codec, AEAD, page bitmap, erasure code, receiving sinks', { skip: clang ? false : 'clang++ not installed', timeout: 300_000 }, () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-fuzz-'));
  try {
    const r = spawnSync('make', ['-C', dir, 'run', `SECS=${secs}`, `OUT=${out}`], { encoding: 'utf8', cwd: out, maxBuffer: 64 << 20 });
    const tail = `${r.stdout}\n${r.stderr}`.split('\n').slice(-30).join('\n');
    assert.equal(r.status, 0, `fuzzing failed:\n${tail}`);
    const runs = [...`${r.stderr}`.matchAll(/Done (\d+) runs/g)].map((m) => Number(m[1]));
    assert.equal(runs.length, 5, tail);
    for (const n of runs) assert.ok(n > 1000, `only ${n} runs`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
