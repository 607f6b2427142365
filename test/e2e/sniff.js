#!/usr/bin/env node
// A listener on the LAN: joins GROUP:PORT for SECONDS and counts datagrams
// from MASTER that contain the bytes MARKER.   node sniff.js GROUP PORT MASTER SECONDS MARKER
'use strict';
const dgram = require('dgram');
const [group, port, master, secs, marker] = process.argv.slice(2);
const needle = Buffer.from(marker);
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
let seen = 0;
let hits = 0;
sock.on('message', (m, r) => {
  if (r.address !== master) return;
  seen++;
  if (m.includes(needle)) hits++;
});
sock.bind(Number(port), () => sock.addMembership(group));
setTimeout(() => { process.stdout.write(`sniff: ${seen} datagrams, ${hits} with the marker\n`); sock.close(); }, Number(secs) * 1000);
