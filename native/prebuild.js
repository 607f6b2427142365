// npm pack / publish (prepack): build the addon and put it in the package as
// its prebuilt binary for this platform (node-gyp-build's layout,
// prebuilds/<platform>-<arch>/node.napi.<libc>.node), so that an install on
// a machine like this one needs no compiler and runs no install script.
// Elsewhere (another arch, an older glibc: this build needs the glibc it was
// built against or newer) the install script compiles it (node-gyp-build).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
execFileSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' });
const libc = process.report?.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
fs.mkdirSync(dir, { recursive: true });
const out = path.join(dir, `node.napi.${libc}.node`);
fs.copyFileSync(path.join(root, 'build', 'Release', 'mrsync_native.node'), out);
process.stdout.write(`prebuilt: ${path.relative(root, out)}\n`);
