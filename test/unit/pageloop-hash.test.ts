// The native loop hashes what it sends and what it receives (SHA-256), in a
// private network namespace on lo: the master's first pass (whole, or in
// chunk jobs) reports the hash of the pages it read, in the clear even when
// the datagrams are sealed (--encrypt); a target's sink reports the hash of
// the file it received, also when pages came out of order (pages ahead of a
// gap are read back from the file), as all-zero pages (never written), or
// twice. Needs root (unshare -n); skipped, with the reason, without.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { NETNS_SKIP, childInNetns } from './netns';
import { LoopEvent, LoopOptions, native, openPageLoop } from '../../src/native';

const KEY = Buffer.alloc(32, 0x17);
const PAGE = 1000;
const GROUP = '239.255.67.93';
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

function tempFd(size: number, content?: Buffer): number {
  const file = path.join(os.tmpdir(), `mrsync-loop-hash-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(file, 'w+');
  fs.unlinkSync(file);
  if (content) fs.writeSync(fd, content, 0, content.length, 0);
  fs.ftruncateSync(fd, size);
  return fd;
}

/** A pipe's two ends, as descriptors (not a regular file: no sink). */
function pipeFds(): [number, number] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-fifo-'));
  const fifo = path.join(dir, 'p');
  execFileSync('mkfifo', [fifo]);
  const r = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const w = fs.openSync(fifo, fs.constants.O_WRONLY);
  fs.rmSync(dir, { recursive: true });
  return [r, w];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end;) await sleep(10);
}

function loopOpts(sender: number, port: number, encrypt: boolean): LoopOptions {
  return {
    family: 4, group: GROUP, port, bindPort: sender === 0 ? port - 1 : port, ifname: 'lo', ttl: 1, loopback: true,
    join: sender !== 0, key: KEY, sender, pageSize: PAGE, rateBps: 1e8, wireOverhead: 42,
    rcvbuf: 1 << 20, sndbuf: 1 << 20, encrypt,
  };
}

/** A master loop and a target loop on port; content in a file to send (src) and a file of its size to receive into (dst). */
function loopPair(port: number, encrypt: boolean, content: Buffer) {
  const sent: LoopEvent[] = [];
  const got: LoopEvent[] = [];
  return {
    src: tempFd(content.length, content),
    dst: tempFd(content.length),
    sent,
    got,
    target: openPageLoop(loopOpts(1, port, encrypt), (evs) => got.push(...evs)),
    master: openPageLoop(loopOpts(0, port, encrypt), (evs) => sent.push(...evs)),
  };
}

function readBack(fd: number, n: number): Buffer {
  const back = Buffer.alloc(n);
  fs.readSync(fd, back, 0, n, 0);
  return back;
}

/** A target's event as the assertions compare it: kind, object, digest (or errno). */
const received = (e: LoopEvent): string => `${e.kind}:${e.object}:${e.payload?.toString('hex') ?? (e.err ? `errno ${e.err}` : '-')}`;

/**
 * A master loop sends a file (first pass in jobs), a target loop receives it;
 * fromMemory: the pages from a Buffer (as a pack of small files goes), not a file.
 */
async function sendAndReceive(encrypt: boolean, port: number, chunks: Array<[number, number]> | null, fromMemory = false) {
  const content = crypto.randomBytes(10 * PAGE + 123);
  content.fill(0, 3 * PAGE, 4 * PAGE); // an all-zero page
  const { src: file, dst, sent, got, target, master } = loopPair(port, encrypt, content);
  // a Buffer longer than the object: only its first size bytes are the object's
  const src = fromMemory ? Buffer.concat([content, Buffer.alloc(5000, 0xee)]) : file;
  target.openSink(9, dst, content.length);
  await sleep(50);
  if (!chunks) master.sendPages(1, 9, src, content.length, null, undefined, false, true);
  else chunks.forEach(([a, n], i) => master.sendPages(1 + i, 9, src, content.length, Uint32Array.of(a, n), undefined, false, true));
  const jobs = chunks ? chunks.length : 1;
  await until(() => sent.length >= jobs && got.length >= 1, 5000);
  master.stop();
  target.stop();
  return {
    want: sha(content),
    sent: sent.map((e) => `${e.kind}:${e.index}:${e.payload ? e.payload.toString('hex') : '-'}`),
    got: got.map(received),
    same: readBack(dst, content.length).equals(content),
  };
}

/** Pages sealed by hand, in a chosen order: the sink's hash reads back the pages that came ahead of a gap. */
async function outOfOrder(port: number) {
  const content = crypto.randomBytes(600 * PAGE + 7); // more than one read-back chunk (256 KiB)
  content.fill(0, 5 * PAGE, 6 * PAGE);
  const pages = Math.ceil(content.length / PAGE);
  const dst = tempFd(content.length);
  const got: LoopEvent[] = [];
  const target = openPageLoop(loopOpts(1, port, false), (evs) => got.push(...evs));
  target.openSink(4, dst, content.length);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.setMulticastInterface('127.0.0.1');
  const send = (i: number): Promise<void> => new Promise((r) =>
    sock.send(native.seal(KEY, 0, 1, 4, i, content.subarray(i * PAGE, Math.min(content.length, (i + 1) * PAGE))), port, GROUP, () => r()));
  // every page but 0 and 5 first (the zero page 5 arrives late, out of order), then 5, then 0, then 0 again
  const order = [...Array(pages).keys()].filter((i) => i !== 0 && i !== 5);
  for (const i of order) { await send(i); if (i % 64 === 0) await sleep(5); }
  await sleep(100);
  const early = got.length;
  await send(5);
  await send(0);
  await send(0);
  await until(() => got.length >= 1, 5000);
  await sleep(100);
  const st = target.stats();
  target.stop();
  sock.close();
  return { want: sha(content), early, got: got.map(received), same: readBack(dst, content.length).equals(content), dup: st.dataDup };
}

/**
 * The last pages of a file lost and rebuilt from parity (the block is read
 * back from the sink to decode): a sink must be a file of its size, or that
 * read comes up short; openSink gives an empty file its size, and refuses
 * what is not a regular file.
 */
async function tailByParity(port: number) {
  const content = crypto.randomBytes(10 * PAGE + 123); // 11 pages: one block
  const { src, dst: full, sent, got, target, master } = loopPair(port, false, content);
  fs.closeSync(full);
  const dst = tempFd(0);
  const [pipeIn, pipeOut] = pipeFds();
  const refused = target.openSink(8, pipeOut, content.length);
  fs.closeSync(pipeIn);
  fs.closeSync(pipeOut);
  target.openSink(9, dst, content.length);
  await sleep(50);
  // pages 0-8, then two parity pages for block 0 in place of pages 9 and 10
  master.sendPages(1, 9, src, content.length, Uint32Array.of(0, 9), Uint32Array.of(0, 0, 2));
  await until(() => sent.length >= 1 && got.length >= 1, 5000);
  await sleep(50);
  const st = target.stats();
  master.stop();
  target.stop();
  return { want: sha(content), refused, got: got.map(received), same: readBack(dst, content.length).equals(content), size: fs.fstatSync(dst).size, want_size: content.length, rebuilt: st.fecRecovered };
}

/**
 * The sink borrows the owner's descriptor: once closeSink returns, the owner
 * closes it and the number goes to the next file opened; the pages of the
 * closed sink that still come are strays and never reach that file.
 */
async function closedSink(port: number) {
  const content = crypto.randomBytes(40 * PAGE);
  const { src, dst, sent, target, master } = loopPair(port, false, content);
  target.openSink(7, dst, content.length);
  await sleep(50);
  master.sendPages(1, 7, src, content.length, Uint32Array.of(0, 10));
  await until(() => sent.length >= 1, 5000);
  await sleep(50);
  const missing = target.closeSink(7);
  fs.closeSync(dst);
  const next = tempFd(0); // the lowest free number: the one just closed
  master.sendPages(2, 7, src, content.length, Uint32Array.of(10, 30));
  await until(() => sent.length >= 2, 5000);
  await sleep(100);
  const st = target.stats();
  master.stop();
  target.stop();
  return { missing, reused: next === dst, nextSize: fs.fstatSync(next).size, stray: st.dataStray };
}

/**
 * Pages from a Buffer that only the loop still holds: 2 MB (its own mapping,
 * returned to the system when freed) sent while the garbage collector runs
 * again and again, and a tail rebuilt from parity pages made from memory; a
 * Buffer shorter than the object is refused.
 */
async function heldByTheLoop(port: number) {
  const gc = (() => { v8.setFlagsFromString('--expose-gc'); return vm.runInNewContext('gc') as () => void; })();
  const content = crypto.randomBytes(2000 * PAGE + 321);
  const want = sha(content);
  const { dst, sent, got, target, master } = loopPair(port, false, Buffer.alloc(0));
  fs.ftruncateSync(dst, content.length);
  target.openSink(9, dst, content.length);
  await sleep(50);
  // pages 0-1990 and parity for the last block (15: pages 1920-2000; 1991-2000 never sent): from a copy nothing here refers to
  master.sendPages(1, 9, Buffer.from(content), content.length, Uint32Array.of(0, 1991), Uint32Array.of(15, 0, 10), false, false);
  for (let i = 0; i < 20 && got.length === 0; i++) { gc(); await sleep(10); }
  await until(() => sent.length >= 1 && got.length >= 1, 5000);
  let short = '';
  try { master.sendPages(2, 9, Buffer.alloc(10), 11, null); } catch (e) { short = (e as Error).message; }
  const st = target.stats();
  master.stop();
  target.stop();
  return { want, sent: sent.map((e) => `${e.kind}:${e.index}`), got: got.map(received), same: readBack(dst, content.length).equals(content), rebuilt: st.fecRecovered, short };
}

async function child(): Promise<void> {
  const out = {
    whole: await sendAndReceive(false, 47011, null),
    wholeFromMemory: await sendAndReceive(false, 47071, null, true),
    chunkedFromMemory: await sendAndReceive(false, 47081, [[0, 4], [4, 3], [7, 4]], true),
    sealedFromMemory: await sendAndReceive(true, 47091, null, true),
    held: await heldByTheLoop(47101),
    chunked: await sendAndReceive(false, 47021, [[0, 4], [4, 3], [7, 4]]),
    sealed: await sendAndReceive(true, 47031, null),
    outOfOrder: await outOfOrder(47041),
    tail: await tailByParity(47051),
    closed: await closedSink(47061),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv.includes('--child')) {
  void child();
} else {
  test('the loop hashes the first pass it sends and every file it receives', { skip: NETNS_SKIP }, () => {
    const out = childInNetns(__filename, 30_000);
    for (const k of ['whole', 'sealed', 'wholeFromMemory', 'sealedFromMemory'] as const) {
      const o = out[k];
      assert.deepEqual(o.sent, [`sent:1:${o.want}`], `${k}: the job's event carries the hash of the pages it read`);
      assert.deepEqual(o.got, [`complete:9:${o.want}`], `${k}: the sink's completion carries the hash of what arrived`);
      assert.ok(o.same, `${k}: the copy is exact`);
    }
    const c = out.chunked;
    assert.deepEqual(c.sent, ['sent:1:-', 'sent:2:-', `sent:3:${c.want}`], 'chunk jobs: the last one carries the hash of the whole pass');
    assert.deepEqual(c.got, [`complete:9:${c.want}`]);
    const m = out.chunkedFromMemory;
    assert.deepEqual(m.sent, ['sent:1:-', 'sent:2:-', `sent:3:${m.want}`], 'chunk jobs from memory: the last one carries the hash');
    assert.deepEqual(m.got, [`complete:9:${m.want}`]);
    assert.ok(m.same);
    const h = out.held;
    assert.deepEqual(h.sent, ['sent:1'], 'the job from a Buffer only the loop held ended');
    assert.deepEqual(h.got, [`complete:9:${h.want}`], 'every page and the parity made from memory arrived as the Buffer was');
    assert.equal(h.rebuilt, 10);
    assert.ok(h.same);
    assert.match(h.short, /shorter than size/, 'a Buffer shorter than the object is refused');
    const o = out.outOfOrder;
    assert.equal(o.early, 0, 'not complete while pages are missing');
    assert.deepEqual(o.got, [`complete:4:${o.want}`], 'pages ahead of the gaps read back and hashed in order');
    assert.ok(o.same);
    assert.equal(o.dup, 1, 'the second copy of page 0 is a duplicate, hashed once');
    const t = out.tail;
    assert.equal(t.refused, 22, 'openSink refuses what is not a regular file (EINVAL)');
    assert.deepEqual(t.got, [`complete:9:${t.want}`], 'the lost tail of the file rebuilt from parity');
    assert.equal(t.rebuilt, 2);
    assert.equal(t.size, t.want_size, 'the sink gave the empty file its size');
    assert.ok(t.same);
    const z = out.closed;
    assert.equal(z.missing, 30, 'closeSink says what was still missing');
    assert.ok(z.reused, 'the next file got the closed descriptor\'s number');
    assert.equal(z.nextSize, 0, 'no page of the closed sink reached it');
    assert.equal(z.stray, 30);
  });
}
