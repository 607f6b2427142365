#!/usr/bin/env node
// A target that turns on the others. Used as --remote-path: every target
// runs the real multicatcher through it; on the host named by ROGUE_HOST it
// also uses the session key every target holds to forge what only the
// master should say: a datagram as the master from its own address at once
// (to take the others' feedback), then, again and again, the pages of
// ROGUE_OBJECT with ROGUE_FILE's content, an EOF carrying that content's
// SHA-256, a Sums signed with a key of its own, and an unsigned Abort of
// ROGUE_ABORT. With ROGUE_TRAIN, before that: probe trains of its own to the
// others (every index, back to back, again and again: they would read the
// path as far faster than it is) and, on its own channel, readings of the
// train no catcher would give. It stops when its channel closes.
'use strict';
const { spawn } = require('child_process');
const crypto = require('crypto');
const dgram = require('dgram');
const fs = require('fs');
const path = require('path');
const repo = path.resolve(__dirname, '..', '..');
const { native } = require(path.join(repo, 'dist', 'src', 'native.js'));
const { LINE_TAG } = require(path.join(repo, 'dist', 'src', 'wire', 'session.js'));

let head = Buffer.alloc(0);
let child = null;
process.stdin.on('data', (d) => {
  if (child) { child.stdin.write(d); return; }
  head = Buffer.concat([head, d]);
  const nl = head.indexOf(0x0a);
  if (nl < 0) return;
  child = spawn(path.join(repo, 'bin', 'multicatcher'), [], { stdio: ['pipe', 'inherit', 'inherit'] });
  child.stdin.on('error', () => {});
  child.on('exit', (code) => process.exit(code ?? 1));
  child.stdin.write(head);
  const header = JSON.parse(head.subarray(0, nl).toString());
  if (header.host === process.env.ROGUE_HOST) attack(header);
});
process.stdin.on('end', () => { if (child) child.stdin.end(); else process.exit(0); });

function attack(h) {
  const key = Buffer.from(h.key, 'hex');
  const sock = dgram.createSocket('udp4');
  sock.bind(0, () => {
    sock.setMulticastTTL(1);
    sock.setMulticastLoopback(false);
    const send = (type, object, index, payload) => sock.send(native.seal(key, 0, type, object, index, payload), h.port, h.group);
    // as the master, from here, before the master has sent anything: whoever takes the master's
    // address from the first datagram sends its feedback here
    for (let i = 0; i < 5; i++) send(6 /* Check */, 0xfffffff0, 0, Buffer.alloc(8));
    if (process.env.ROGUE_TRAIN) {
      const page = Buffer.alloc(h.pageSize);
      const train = () => { for (let i = 0; i < 130; i++) send(10 /* Train */, 0, i % 132, page); };
      train();
      setInterval(train, 5);
      for (const bad of [{ bps: 1e300, n: 128 }, { bps: -5, n: 3 }, { bps: 'fast', n: 1 }, { bps: 1e9, n: 'x' }, { bps: 1e9, n: 1e9 }]) {
        process.stdout.write(LINE_TAG + JSON.stringify({ t: 'train', ...bad }) + '\n');
      }
    }
    const object = Number(process.env.ROGUE_OBJECT);
    const content = fs.readFileSync(process.env.ROGUE_FILE);
    const hash = crypto.createHash('sha256').update(content).digest();
    const awaited = Buffer.concat([Buffer.from([0, 32]), Buffer.alloc(32, 0xff)]); // every target answers
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    let round = 0;
    const burst = () => {
      for (let i = 0, o = 0; o < content.length; i++, o += h.pageSize) send(1 /* Data */, object, i, content.subarray(o, o + h.pageSize));
      send(3 /* Eof */, object, round++, Buffer.concat([awaited, hash]));
      const body = Buffer.concat([Buffer.from([1]), Buffer.from([0, 0, 0, object]), hash]);
      send(7 /* Sums */, 0, round, Buffer.concat([body, crypto.sign(null, body, privateKey)]));
      send(4 /* Abort */, Number(process.env.ROGUE_ABORT), 0, Buffer.alloc(64));
    };
    setInterval(burst, 20);
  });
}
