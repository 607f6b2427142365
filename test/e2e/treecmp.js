#!/usr/bin/env node
// treecmp [--no-dir-times] A B: every entry of two trees, compared field by field: type, mode,
// owner, size, mtime (ns), symlink target, content (SHA-256) and hardlink
// grouping (which paths share an inode). Prints the differences; exit 1 if any.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

function walk(root) {
  const out = new Map();
  const inodes = new Map();
  const visit = (rel) => {
    const abs = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(abs, { bigint: true });
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : 'other';
    const e = { type, mode: (st.mode & 0o7777n).toString(8), uid: String(st.uid), gid: String(st.gid), mtime: String(st.mtimeNs) };
    if (type === 'file') {
      e.size = String(st.size);
      e.sha = crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex').slice(0, 16);
      const key = `${st.dev}:${st.ino}`;
      if (!inodes.has(key)) inodes.set(key, rel);
      e.group = inodes.get(key); // the first path (in walk order) with this inode
    }
    if (type === 'link') { e.target = fs.readlinkSync(abs); delete e.mode; }
    out.set(rel || '.', e);
    if (type === 'dir') for (const n of fs.readdirSync(abs).sort()) visit(rel ? `${rel}/${n}` : n);
  };
  visit('');
  return out;
}

// --no-dir-times: rsync 3.x leaves directory times unset with -b --suffix (no --backup-dir)
const args = process.argv.slice(2);
const noDirTimes = args[0] === '--no-dir-times';
const [a, b] = noDirTimes ? args.slice(1) : args;
const A = walk(a);
const B = walk(b);
const diffs = [];
for (const [p, e] of A) {
  const f = B.get(p);
  if (!f) { diffs.push(`only in ${a}: ${p} (${e.type})`); continue; }
  for (const k of new Set([...Object.keys(e), ...Object.keys(f)])) {
    if (noDirTimes && k === 'mtime' && e.type === 'dir') continue;
    if (e[k] !== f[k]) diffs.push(`${p}: ${k} ${e[k]} != ${f[k]}`);
  }
}
for (const [p, f] of B) if (!A.has(p)) diffs.push(`only in ${b}: ${p} (${f.type})`);
if (diffs.length) {
  process.stdout.write(diffs.join('\n') + '\n');
  process.exit(1);
}
