#!/usr/bin/env node
// Does the suite still bite? Each mutation below breaks the code on purpose
// in one small way (a literal replacement in one file), rebuilds, runs the
// one test that must catch it, and puts the file back. Exits 1 if a mutation
// no longer applies (the code moved: update it here) or if its test passes
// with the mutation in place. Needs a built clone, and root (some of the
// tests run in a private network namespace); a few minutes.
//
//   node test/mutations.js          every mutation
//   node test/mutations.js 3 7      only these (numbered as listed)
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const MUTATIONS = [
  ['--delete acts in directories only partly listed', 'src/catcher/mirror.ts',
    'entries.kind(i) === Kind.Dir && (entries.flags(i) & Flag.Whole)', 'entries.kind(i) === Kind.Dir', 'mirror.test.js'],
  ['data and parity pages accepted without their tag', 'native/pageloop.cc',
    '} else if (!auth_->verify(p, len)) {', '} else if (!isPageType(h.type) && !auth_->verify(p, len)) {', 'pageloop.test.js'],
  ["a parity page's length not checked", 'native/receiver.cc',
    ' || h.length != paging_.parityLen(s.size, block)) {', ') {', 'pageloop.test.js'],
  ["a hardlink's leader read past the end of the manifest", 'src/wire/manifest.ts',
    "      if (o + 4 > b.length) bad('truncated');\n      const leader", '      const leader', 'manifest.test.js'],
  ['the hash flag accepted on any entry', 'src/wire/manifest.ts',
    "if (flags & Flag.Hash && kind !== Kind.File) bad('flags');", '', 'manifest.test.js'],
  ['a dropped target does not give exit 3', 'src/operator/report.ts',
    "if (r.quit || r.targets.some((t) => t.state === 'DROPPED' || t.state === 'UNREACHABLE')) return 3;",
    "if (r.quit || r.targets.some((t) => t.state === 'UNREACHABLE')) return 3;", 'report.test.js'],
  ["the SSSE3 kernel's tail one byte short", 'native/fec.cc',
    '  mulAddScalar(dst + i, src + i, row, n - i);\n}\n\n#endif', '  mulAddScalar(dst + i, src + i, row, n - i - (n > i));\n}\n\n#endif', 'fec.test.js'],
  ["a planted file chown'ed in place", 'src/catcher/plan.ts',
    "if (o.owner && (h.uid !== e.uid || h.gid !== e.gid)) return e.size === 0 ? { do: 'empty' } : { do: 'data' };", '', 'plan.test.js'],
  ["Sums taken without the master's signature", 'src/wire/protocol.ts',
    '  if (!verifier.verify(Msg.Sums, 0, index, body, b.subarray(body.length))) return null;\n', '', 'protocol.test.js'],
  ["a daemon's session may back up outside its root", 'src/wire/session.ts',
    '  if (o.confine !== undefined) {\n    const why', '  if (false) {\n    const why', 'daemon.test.js'],
  ['a key file read by path after it was checked', 'src/channel/keyfile.ts',
    "text = fs.readFileSync(fd, 'utf8').trim();", "text = fs.readFileSync(file, 'utf8').trim();", 'keyfile.test.js'],
  ['a source file sent without checking it is the one scanned', 'src/master/source.ts',
    "    if (why) throw new MrsyncError('ERR_CHANGED', `${why} since the scan`);", "    if (why && !why) throw new MrsyncError('ERR_CHANGED', `${why} since the scan`);", 'source.test.js'],
  ['the scan reading a directory by path', 'src/wire/manifest.ts',
    'const sub = openDirAt(dirfd, name, st, r);', "const sub = (void openDirAt, fs.openSync(`/proc/self/fd/${dirfd}/${name.toString('latin1')}`, 'r'));", 'source.test.js'],
  ['a received file committed whatever its hash', 'src/catcher/receipt.ts',
    "    if (!digest.equals(f.hash!)) return this.failed(object, 'content hash mismatch (source changed during send?)', 'HASH_MISMATCH');\n", '', 'receipt.test.js'],
  ['a pack skips a file still coming alone (a set-aside target\'s catch-up)', 'src/catcher/receipt.ts',
    "return phase === undefined || comingAlone(phase);", 'return phase === undefined;', 'receipt.test.js'],
  ["one report behind what was sent ends the rate's startup (a busy target's stall taken for a queue)", 'src/master/rate.ts',
    '? m.queued >= 2 :', '? m.queued >= 1 :', 'rate.test.js'],
  ['Acks taken whatever their types', 'src/wire/protocol.ts',
    'if (t !== Msg.OpenOk && t !== Msg.Done && t !== Msg.Wait && t !== Msg.NeedSum) return false;', '', 'events.test.js'],
  ["a pack's Buffer not held by the loop while its job reads it", 'native/addon.cc',
    '    if (mem) held_.emplace(job, Napi::Persistent(info[2]));\n', '', 'pageloop-hash.test.js'],
];

const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
const build = (file) => (file.startsWith('native/') ? run('npx', ['node-gyp', 'build']) : run('npx', ['tsc', '-p', 'tsconfig.json']));
const only = process.argv.slice(2).map(Number);
let bad = 0;
MUTATIONS.forEach(([name, file, text, repl, test], i) => {
  const k = i + 1;
  if (only.length && !only.includes(k)) return;
  const abs = path.join(root, file);
  const orig = fs.existsSync(abs) ? fs.readFileSync(abs, 'utf8') : '';
  if (orig.split(text).length !== 2) { console.log(`${k}. ${name}: DOES NOT APPLY (${file} changed: update it in test/mutations.js)`); bad = 1; return; }
  try {
    fs.writeFileSync(abs, orig.replace(text, () => repl));
    const b = build(file);
    if (b.status !== 0) { console.log(`${k}. ${name}: does not build\n${(b.stdout + b.stderr).split('\n').slice(-8).join('\n')}`); bad = 1; return; }
    const t = run(process.execPath, ['--test', path.join('dist', 'test', 'unit', test)]);
    if (t.status === 0) { console.log(`${k}. ${name}: NOT CAUGHT by ${test}`); bad = 1; }
    else console.log(`${k}. ${name}: caught by ${test}`);
  } finally {
    fs.writeFileSync(abs, orig);
    build(file);
  }
});
process.exit(bad);
