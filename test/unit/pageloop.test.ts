// The native loop's receive path, in a private network namespace on lo: data
// and parity pages under another key are dropped unread; an authenticated
// page with an index past the end, or a length that does not match its page
// (data or parity), is dropped and counted, and never written; a duplicate is
// ignored; a lost page is rebuilt from a parity page; the good pages complete
// the sink. Needs root (unshare -n); skipped, with the reason, without.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { NETNS_SKIP, childInNetns } from './netns';
import { native, openPageLoop } from '../../src/native';

const KEY = Buffer.alloc(32, 0x42);
const PAGE = 1000;

async function child(): Promise<void> {
  const file = path.join(os.tmpdir(), `mrsync-loop-${process.pid}`);
  const fd = fs.openSync(file, 'w+');
  fs.unlinkSync(file);
  fs.ftruncateSync(fd, 2500); // three pages: 1000, 1000, 500
  const events: string[] = [];
  const loop = openPageLoop({
    family: 4, group: '239.255.67.92', port: 47001, bindPort: 47001, ifname: 'lo', ttl: 1, loopback: true, join: true,
    key: KEY, sender: 1, pageSize: PAGE, rateBps: 1e8, wireOverhead: 42, rcvbuf: 1 << 20, sndbuf: 1 << 20,
  }, (evs) => { for (const e of evs) events.push(`${e.kind}:${e.object}`); });
  loop.openSink(5, fd, 2500);
  // more than 2^31 pages: page numbers (and parity blocks, 24 bits of 128 pages) would wrap
  const bigFd = fs.openSync(`${file}-big`, 'w+');
  fs.unlinkSync(`${file}-big`);
  fs.ftruncateSync(bigFd, 2 ** 31 * PAGE + 1);
  const tooBig = loop.openSink(6, bigFd, 2 ** 31 * PAGE + 1);
  fs.closeSync(bigFd);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.setMulticastInterface('127.0.0.1');
  const send = (b: Buffer): Promise<void> => new Promise((r) => sock.send(b, 47001, '239.255.67.92', () => r()));
  const page = (i: number, n: number, fill: number): Buffer => native.seal(KEY, 0, 1, 5, i, Buffer.alloc(n, fill));
  await send(page(99, PAGE, 1));       // index past the end
  await send(page(3, 500, 1));         // index == pages
  await send(page(0, 999, 1));         // wrong length for page 0
  await send(page(2, 1000, 1));        // wrong length for the last page
  // pages under another key (another session's, or forged): dropped before anything reads them
  const OTHER = Buffer.alloc(32, 0x43);
  await send(native.seal(OTHER, 0, 1, 5, 1, Buffer.alloc(PAGE, 0xee)));
  const truth = [Buffer.alloc(PAGE, 0xaa), Buffer.alloc(PAGE, 0xcc), Buffer.alloc(500, 0xdd)];
  const parity = native.fecEncode(truth, 0, PAGE); // block 0, parity page 0: rebuilds any one lost page of the block
  await send(native.seal(OTHER, 0, 5, 5, 0, parity));
  await send(native.seal(KEY, 0, 5, 5, 0, parity.subarray(0, 999))); // a parity page of the wrong length
  await send(page(0, PAGE, 0xaa));
  await send(page(0, PAGE, 0xbb));     // duplicate of page 0 (other content): ignored
  await send(page(2, 500, 0xdd));
  // page 1 never comes: the parity page rebuilds it
  await send(native.seal(KEY, 0, 5, 5, 0, parity));
  await new Promise((r) => setTimeout(r, 300));
  const st = loop.stats();
  const data = Buffer.alloc(2500);
  fs.readSync(fd, data, 0, 2500, 0);
  loop.stop();
  sock.close();
  process.stdout.write(JSON.stringify({
    badFormat: st.badFormat, badAuth: st.badAuth, dataNew: st.dataNew, dataDup: st.dataDup, fecRecovered: st.fecRecovered, events, tooBig,
    bytes: [data[0], data[999], data[1000], data[1999], data[2000], data[2499]],
  }) + '\n');
}

if (process.argv.includes('--child')) {
  void child();
} else {
  test('receive path: pages under another key, out of range or of the wrong length (data or parity) are dropped, duplicates ignored, a lost page rebuilt from parity', { skip: NETNS_SKIP }, () => {
    const out = childInNetns(__filename, 20_000);
    assert.equal(out.badFormat, 5, 'four malformed data pages and a parity page of the wrong length counted');
    assert.equal(out.badAuth, 2, 'a data and a parity page under another key');
    assert.equal(out.fecRecovered, 1, 'page 1 rebuilt from parity');
    assert.equal(out.dataNew, 3);
    assert.equal(out.tooBig, os.constants.errno.EFBIG, 'a sink of more than 2^31 pages');
    assert.equal(out.dataDup, 1);
    assert.deepEqual(out.events, ['complete:5']);
    assert.deepEqual(out.bytes, [0xaa, 0xaa, 0xcc, 0xcc, 0xdd, 0xdd]);
  });
}
