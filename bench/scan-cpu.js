#!/usr/bin/env node
// The master's scan alone: CPU per entry of walking DIR into manifest
// segments (src/master/scan.ts), as a push does before and while it sends.
//   node bench/scan-cpu.js DIR [RUNS]        (this checkout's build)
//   MRSYNC_ROOT=/other/clone node bench/scan-cpu.js DIR   (another build, A/B)
// Prints one line per run; the first reads DIR into the page cache as well.
'use strict';
const path = require('node:path');
const dir = process.argv[2];
const runs = Number(process.argv[3] ?? 4);
if (!dir) { console.error('usage: node bench/scan-cpu.js DIR [RUNS]'); process.exit(1); }
const root = process.env.MRSYNC_ROOT ?? path.join(__dirname, '..');
const { scanSegments } = require(path.join(root, 'dist/src/master/scan'));
for (let r = 0; r < runs; r++) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const gen = scanSegments(Buffer.from(dir));
  let entries = 0;
  for (;;) {
    const x = gen.next();
    if (x.done) { entries = x.value.entries; break; }
  }
  const c = process.cpuUsage(c0);
  const cpuUs = c.user + c.system;
  console.log(`${root}: ${entries} entries, ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms wall, ` +
    `${(cpuUs / 1000).toFixed(0)} ms CPU, ${(cpuUs / entries).toFixed(1)} us/entry`);
}
