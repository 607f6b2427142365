#!/usr/bin/env node
// A hostile host on the simulated LAN: for SECONDS it floods the mrsync
// group and the master's feedback port with garbage, packets of another
// session (its own key) and of wire version 2, packets on this session's
// object ids (sniffed off the wire) with forged tags, truncated and
// oversized copies, and verbatim replays.
//   node inject.js GROUP PORT MASTER_ADDR SECONDS
'use strict';
const dgram = require('dgram');
const crypto = require('crypto');
const [group, portS, master, secondsS] = process.argv.slice(2);
const port = Number(portS);
const until = Date.now() + Number(secondsS) * 1000;
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const captured = [];
// the wire format (native/wire.h): an 11-byte header (version 3 << 5 | type,
// object, index, sender or a page's seq), a 12-byte tag
const VERSION = 3, HDR = 11, TAG = 12;
const sent = { garbage: 0, otherSession: 0, version2: 0, forgedTag: 0, truncated: 0, oversized: 0, replayed: 0, toMaster: 0 };
const otherKey = crypto.randomBytes(32);

sock.on('message', (m, rinfo) => {
  // only the master's real packets (not our own floods)
  if (rinfo.address === master && m.length >= HDR + TAG && m[0] >> 5 === VERSION && captured.length < 64) captured.push(Buffer.from(m));
});
sock.bind(port, () => {
  sock.addMembership(group);
  sock.setMulticastTTL(1);
  sock.setMulticastLoopback(false);
  tick();
});

function header(type, sender, object, index) {
  const h = Buffer.alloc(HDR);
  h[0] = (VERSION << 5) | type; h.writeUInt32BE(object, 1); h.writeUInt32BE(index, 5);
  h.writeUInt16BE(sender, 9);
  return h;
}
function forged(type, object, index, payloadLen) {
  const p = crypto.randomBytes(payloadLen);
  return Buffer.concat([header(type, 0, object, index), p, crypto.randomBytes(TAG)]);
}
// a well-formed command of another session: tagged with that session's key
function otherSession(type, object, index, payloadLen) {
  const hp = Buffer.concat([header(type, 0, object, index), crypto.randomBytes(payloadLen)]);
  return Buffer.concat([hp, crypto.createHmac('sha256', otherKey).update(hp).digest().subarray(0, TAG)]);
}
// version 2's layout: version byte, type byte, sender, session id, object, index, seq
function version2(type, object, index, payloadLen) {
  const h = Buffer.alloc(18);
  h[0] = 2; h[1] = type; h.writeUInt32BE(crypto.randomInt(2 ** 32), 4); h.writeUInt32BE(object, 8); h.writeUInt32BE(index, 12);
  return Buffer.concat([h, crypto.randomBytes(payloadLen + TAG)]);
}
function send(buf, kind, to = group, toPort = port) {
  sock.send(buf, toPort, to, () => {});
  sent[kind]++;
}

function tick() {
  if (Date.now() > until) {
    process.stdout.write(`inject: ${JSON.stringify(sent)}; sniffed ${captured.length} real packets\n`);
    sock.close();
    return;
  }
  for (let i = 0; i < 8; i++) {
    send(crypto.randomBytes(10 + crypto.randomInt(1400)), 'garbage');
    send(otherSession(2 + crypto.randomInt(3), crypto.randomInt(100), crypto.randomInt(1000), 100), 'otherSession');
    send(version2(1 + crypto.randomInt(20), crypto.randomInt(100), crypto.randomInt(1000), 100), 'version2');
    if (captured.length) {
      const real = captured[crypto.randomInt(captured.length)];
      const object = real.readUInt32BE(1);
      // pages and commands of this very session under a wrong key
      send(forged(1, object, crypto.randomInt(200), 1449), 'forgedTag');
      send(forged(2 + crypto.randomInt(3), object, 0, 48), 'forgedTag');
      // complaints to the master claiming to be targets
      send(Buffer.concat([header(16 + crypto.randomInt(4), 1 + crypto.randomInt(3), object, 1), crypto.randomBytes(8 + TAG)]), 'toMaster', master, port - 1);
      send(real.subarray(0, HDR + crypto.randomInt(Math.max(1, real.length - HDR))), 'truncated');
      send(real, 'replayed');
      if (i === 0) send(Buffer.concat([real.subarray(0, HDR), crypto.randomBytes(30000)]), 'oversized');
    }
  }
  setTimeout(tick, 2);
}
