// Runs every end-to-end scenario script (test/e2e/*.sh) as one test each.
// They need root (network and mount namespaces) and nftables; without root
// they are skipped with the reason, never reported as passed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const dir = path.resolve(__dirname, '..', '..', '..', 'test', 'e2e');
const scripts = fs.readdirSync(dir).filter((f) => f.endsWith('.sh') && f !== 'lib.sh').sort();
const root = process.getuid?.() === 0;
const only = process.env.MRSYNC_E2E ? new Set(process.env.MRSYNC_E2E.split(',')) : null;

for (const s of scripts) {
  const name = s.replace(/\.sh$/, '');
  test(`e2e ${name}`, { skip: !root ? 'needs root for network namespaces' : only && !only.has(name) ? 'not selected by MRSYNC_E2E' : false, timeout: 600_000 }, () => {
    const r = spawnSync('bash', [path.join(dir, s)], { encoding: 'utf8', timeout: 590_000, maxBuffer: 64 << 20 });
    const out = `${r.stdout}\n${r.stderr}`;
    if (r.status !== 0) process.stderr.write(`---- ${name} output ----\n${out}\n`);
    assert.equal(r.status, 0, `${name} failed (status ${r.status}, signal ${r.signal})`);
    assert.match(r.stdout, /^PASS$/m);
  });
}
