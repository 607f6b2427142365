// The one loader of the native addon, with its typed surface. Its one
// convention for errors (errors.ts): a call that can fail for reasons of the
// system returns -errno; misuse throws a TypeError; the PageLoop constructor
// throws an Error with code, errno and syscall when it cannot set up its
// socket.
import path from 'node:path';
import { UserError } from './errors';

export interface LoopOptions {
  family: 4 | 6;
  group: string;
  port: number;
  bindPort: number;
  ifname: string;
  ttl: number;
  loopback: boolean;
  join: boolean;
  key: Buffer;
  sender: number;
  pageSize: number;
  rateBps: number;
  wireOverhead: number;
  rcvbuf: number;
  sndbuf: number;
  /** answer datagrams of this type natively with type+1 carrying the first 8 payload bytes (rtt) */
  echoType?: number;
  /** receive-only nap in microseconds so datagrams batch (catchers); 0 = never */
  napUs?: number;
  /** up to this when datagrams arrive slowly (about 24 per nap; see native napTime) */
  napMaxUs?: number;
  /** join: leave and join the group again this often (ms), for switches that snoop IGMP/MLD with no querier; 0 = never */
  rejoinMs?: number;
  /** send page batches with UDP GSO where the kernel takes it (default true) */
  gso?: boolean;
  /** sender: raise the loop thread's priority where allowed (root) */
  boost?: boolean;
  /** AES-256-GCM payloads instead of HMAC tags (--encrypt); 8 more bytes per datagram */
  encrypt?: boolean;
  /** catchers: where feedback goes (the session header's master address and port); never learned from datagrams */
  master?: string;
  masterPort?: number;
}

export type LoopEventKind = 'control' | 'complete' | 'sent' | 'jobError' | 'sinkError';

export interface LoopEvent {
  kind: LoopEventKind;
  type: number;
  sender: number;
  object: number;
  /** page index / round for control; job id for sent and jobError */
  index: number;
  err: number;
  /** control: CLOCK_MONOTONIC ns when the datagram was read */
  rxNs: number;
  /** control: the datagram's payload; complete: the SHA-256 of the file; sent: the first pass's SHA-256 if the job ended it */
  payload?: Buffer;
}

export interface LoopStats {
  pktsSent: number; bytesSent: number; dataSent: number; ctlSent: number; sendErrors: number;
  pktsRecv: number; dataExpected: number; dataRecv: number; dataNew: number; dataDup: number; dataStray: number;
  badAuth: number; ownEcho: number; badFormat: number; ctlRecv: number; recvBatches: number;
  /** parity pages sent / received, and pages rebuilt from parity (native/fec.h) */
  paritySent: number; parityRecv: number; fecRecovered: number;
  /** sender: ns of line time unused (pacing credit beyond its cap) with pages queued (the thread woke late, the socket was full) and with none */
  lateNs: number; idleNs: number;
  /** sender: bytes of its data datagrams on the wire (Ethernet, IP, UDP and mrsync headers included) */
  dataWire: number;
}

export interface NativePageLoop {
  /**
   * runs: (start, length) pairs, null = every page; parity: (block, first parity index, count) triples, sent after the
   * runs; urgent: ahead of the jobs queued; hash: a part of the first pass (pages in order from 0), hashed as read:
   * the 'sent' event of the job that reaches the last page carries the SHA-256 (payload). source: the file's
   * descriptor, or its bytes (a Buffer of at least size bytes, which the loop holds until the job's event)
   */
  sendPages(job: number, object: number, source: number | Buffer, size: number, runs: Uint32Array | null, parity?: Uint32Array, urgent?: boolean, hash?: boolean): void;
  /** stamp: the loop writes its monoNs() send time into payload bytes 0..7 */
  sendControl(type: number, object: number, index: number, payload: Buffer | null, toMaster: boolean, stamp?: boolean): void;
  /** 0, or an errno: the sink gives fd (a fresh file: it must read as zeros) its size, EINVAL unless a regular file open for writing; it borrows fd: close fd only after closeSink */
  openSink(object: number, fd: number, size: number): number;
  /** the pages still missing (-1: no such sink); once it returns the loop does no more I/O on the sink's fd */
  closeSink(object: number): number;
  sinkMissing(object: number, maxRuns: number): { missing: number; runs: Uint32Array } | null;
  setRate(bps: number): void;
  /** the kernel's arrival stamp (events' rxNs) on every datagram, or not: on from the start; a catcher turns it off once the probe train is timed (a cmsg less per page) */
  stampArrivals(on: boolean): void;
  stats(): LoopStats;
  hasMaster(): boolean;
  /** the UDP port the loop's socket is bound to */
  localPort(): number;
  /** multicast loopback on the socket's sends (a catcher on this host); false if the kernel refused */
  setLoopback(on: boolean): boolean;
  stop(): void;
}

const KINDS: LoopEventKind[] = ['control', 'control', 'complete', 'sent', 'jobError', 'sinkError']; // native EventKind 1..5

/** A batch of events as the addon packs it: EVENT_FIELDS numbers each, the payloads back to back in bytes. */
function decodeEvents(nums: Float64Array, bytes: Buffer): LoopEvent[] {
  const F = native.EVENT_FIELDS;
  const out: LoopEvent[] = new Array(nums.length / F);
  let at = 0;
  for (let i = 0, k = 0; k < nums.length; i++, k += F) {
    const n = nums[k + 7];
    out[i] = {
      kind: KINDS[nums[k]] ?? 'control', type: nums[k + 1], sender: nums[k + 2], object: nums[k + 3], index: nums[k + 4],
      err: nums[k + 5], rxNs: nums[k + 6], payload: n >= 0 ? bytes.subarray(at, at + n) : undefined,
    };
    if (n > 0) at += n;
  }
  return out;
}

/** The addon's loop: as NativePageLoop, plus sends that only queue (defer) and the wake-up that ends them. */
interface RawPageLoop extends NativePageLoop {
  sendPages(job: number, object: number, source: number | Buffer, size: number, runs: Uint32Array | null, parity?: Uint32Array, urgent?: boolean, hash?: boolean, defer?: boolean): void;
  sendControl(type: number, object: number, index: number, payload: Buffer | null, toMaster: boolean, stamp?: boolean, defer?: boolean): void;
  wake(): void;
}

/**
 * The native loop with its wake-ups batched: the sends JavaScript queues in
 * one turn (a batch of events, a timer) wake the loop thread once, when the
 * turn ends, instead of once each (a context switch each, and on the master
 * a preempted JavaScript thread).
 */
export function openPageLoop(opts: LoopOptions, onEvents: (events: LoopEvent[]) => void): NativePageLoop {
  let loop: RawPageLoop;
  try {
    loop = new native.PageLoop(opts, (nums, bytes) => {
      try {
        onEvents(decodeEvents(nums, bytes));
      } catch (e) {
        // Node drops an exception thrown into an addon's thread-safe callback (a deprecation warning, for
        // addons of N-API 8 and before) and the program goes on as if the batch had been handled: thrown
        // again outside it, it is the process's uncaught exception
        process.nextTick(() => { throw e; });
      }
    });
  } catch (e) {
    // a master's answer port is its own (native/socket.cc): taken, it is the user's to choose another
    if (!opts.join && (e as NodeJS.ErrnoException).code === 'EBIND') {
      throw new UserError(`${(e as Error).message}: another push, probe or program has it; give this one another port with -P (answers come to the port below it)`);
    }
    throw e;
  }
  let due = false;
  const wake = (): void => { due = false; loop.wake(); };
  const later = (): void => {
    if (due) return;
    due = true;
    queueMicrotask(wake);
  };
  return {
    sendPages(job, object, source, size, runs, parity, urgent, hash) {
      loop.sendPages(job, object, source, size, runs, parity, urgent ?? false, hash ?? false, true);
      later();
    },
    sendControl(type, object, index, payload, toMaster, stamp) {
      loop.sendControl(type, object, index, payload, toMaster, stamp ?? false, true);
      later();
    },
    openSink: (object, fd, size) => loop.openSink(object, fd, size),
    closeSink: (object) => loop.closeSink(object),
    sinkMissing: (object, maxRuns) => loop.sinkMissing(object, maxRuns),
    setRate: (bps) => loop.setRate(bps),
    stampArrivals: (on) => loop.stampArrivals(on),
    stats: () => loop.stats(),
    hasMaster: () => loop.hasMaster(),
    localPort: () => loop.localPort(),
    setLoopback: (on) => loop.setLoopback(on),
    stop: () => loop.stop(),
  };
}

export interface OpenedPacket {
  error?: 'format' | 'auth';
  type: number; sender: number; object: number; index: number; payload: Buffer;
}

interface NativeModule {
  /** onEvents: a batch of events, packed (decodeEvents; use openPageLoop) */
  PageLoop: new (opts: LoopOptions, onEvents: (nums: Float64Array, bytes: Buffer) => void) => RawPageLoop;
  EVENT_FIELDS: number;
  /** counter given: an --encrypt (AES-256-GCM) packet with that nonce counter */
  seal(key: Buffer, sender: number, type: number, object: number, index: number, payload: Buffer, counter?: number): Buffer;
  open(key: Buffer, datagram: Buffer, encrypted?: boolean): OpenedPacket;
  overhead: number;
  /** CLOCK_MONOTONIC in ns, the clock of send stamps and rxNs */
  monoNs(): number;
  /** The address datagrams to group:port leave this host from (through ifname, or as routed); nothing is sent. Throws (code EROUTE) without a route. */
  multicastSource(family: 4 | 6, group: string, port: number, ifname: string): string;
  /** Runs of clear bits in an LSB-first bitmap, and how many bits are set (native Bitmap). */
  clearRuns(bitmap: Buffer, nbits: number, maxRuns: number): { runs: Uint32Array; count: number };
  /** openat2 beneath dirfd, no symlinks in any component: fd, or -errno. */
  openBeneath(dirfd: number, path: Buffer, flags: number, mode: number): number;
  /** whether openBeneath uses openat2 (false: a kernel before 5.6, or MRSYNC_NO_OPENAT2=1: one component at a time, O_NOFOLLOW) */
  openat2Used(): boolean;
  O_PATH: number;
  /** raise the soft RLIMIT_NOFILE to the hard limit; returns it (-1: unlimited) */
  raiseFdLimit(): number;
  /** A new file in memory (memfd_create): its descriptor, or -errno. */
  memfd(): number;
  /** flock(fd, LOCK_EX | LOCK_NB): 0, or -errno (EWOULDBLOCK: held by another open file). A catcher's open temp files are held so. */
  lockTemp(fd: number): number;
  /**
   * A received temp file's last steps in one call: fchown (if chown), fchmod, futimens (mtime; atime now), close
   * (always), renameat(dirfd, tmp, final) (single-component names). 0, or -errno; the step that failed (1..5 in that
   * order) goes to step[0].
   */
  commitFile(fd: number, chown: boolean, uid: number, gid: number, mode: number, sec: number, nsec: number,
             dirfd: number, tmp: Buffer, final: Buffer, step: Int32Array): number;
  /**
   * Small files whose content is checked already (a pack's members), each written whole from bytes into a temp file
   * of its own (.NAME.mrsync.RANDOM, O_EXCL beneath its directory) and given commitFile's last steps, in one call.
   * meta: 10 numbers per file (dirfd, offset, size, uid, gid, mode, mtime s, mtime ns, offset and length of its final
   * name in names); out[2i] the step that failed (0 none; 1 open, 2 write, 3 fchown, 4 fchmod, 5 futimens, 6 close,
   * 7 renameat), out[2i + 1] its errno; a failed file leaves no temp file. Returns how many were placed.
   */
  placeFiles(bytes: Buffer, meta: Float64Array, names: Buffer, chown: boolean, out: Int32Array): number;
  /**
   * Small source files read whole into dest, back to back, each opened beneath dirfd (no symlink followed, no
   * blocking), checked against the scan (meta: 3 numbers per file: path offset and length in paths, size; ids: its
   * device and inode) and again after the read. out[2i] 0 (out[2i + 1] its offset in dest), 1 not a regular file,
   * 2 another inode, 3 another size (out[2i + 1] it), 4 shrank, 5 changed while read, 11/12/13 open/fstat/read failed
   * (out[2i + 1] errno). Returns the bytes used in dest.
   */
  readFiles(dirfd: number, paths: Buffer, meta: Float64Array, ids: BigUint64Array, dest: Buffer, out: Float64Array): number;
  /**
   * A directory's entries in byte order of their names, with their lstat, in one call: names each ended by a NUL;
   * stats 12 numbers per entry (lstatAt's 11, then 0 or that fstatat's errno). errno: the directory could not be read.
   */
  listStat(dirfd: number): { names?: Buffer; stats?: Float64Array; errno: number };
  /**
   * fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW) into out: mode, size, uid, gid, mtime s, ns, ino and dev as high, low 32
   * bits, and nlink if out has 11 elements. 0, or -errno.
   */
  lstatAt(dirfd: number, name: Buffer, out: Float64Array): number;
  /** fstat(fd) into out (13): lstatAt's ten, st_nlink, ctime s, ctime ns; 0 or -errno */
  fstatInto(fd: number, out: Float64Array): number;
  /** The erasure code alone (tests): parity page j of up to FEC_BLOCK pages zero-padded to len. */
  fecEncode(pages: Buffer[], j: number, len: number): Buffer;
  /** The null pages rebuilt from the others and as many parity pages [j, bytes]. */
  fecRecover(pages: Array<Buffer | null>, parity: Array<[number, Buffer]>, len: number): Buffer[];
  FEC_BLOCK: number;
  FEC_MAX_PARITY: number;
  /** The erasure code's multiply-add kernels this CPU can run ('avx2', 'ssse3', 'scalar'), the default first (tests). */
  fecKernels(): string[];
  /** Use that kernel from now on; false if this CPU cannot run it (tests run each). */
  fecUseKernel(name: string): boolean;
  /** utimensat/futimens: atime now, mtime exact; path bytes or an fd. Throws an errno Error. */
  setTimes(target: Buffer | number, sec: number, nsec: number, nofollow: boolean): void;
}

/**
 * The package's root: this file is dist/src/native.js, or part of a
 * program's bundle dist/bundle/PROGRAM.js (what bin/ runs: one file loads
 * faster than the fifty it is made of), both two levels below the root.
 */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

/** The script that runs a program of this package (mrsync, multicatcher, rtt, rttcatcher): its bundle, or in dist/src/cli when this is not one (tests). */
export function programScript(program: string): string {
  return path.basename(__dirname) === 'bundle' ? path.join(__dirname, `${program}.js`) : path.join(__dirname, 'cli', `${program}.js`);
}

/**
 * The addon: build/Release (compiled here: a clone, or an install that ran
 * its install script) or the package's prebuilt binary for this platform
 * (node-gyp-build chooses). Every program needs it as it starts: one that
 * does not load (no binary for this platform, or a prebuilt one on an older
 * glibc) ends the program with one line saying how to compile it, exit 4.
 */
function load(): NativeModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node-gyp-build') as (dir: string) => NativeModule)(PACKAGE_ROOT);
  } catch (e) {
    const why = String((e as Error).message).split('\n')[0];
    process.stderr.write(`${path.basename(process.argv[1] ?? 'mrsync', '.js')}: the native addon does not load on this machine ` +
      `(${why}); compile it with "npm rebuild -g mrsync --allow-scripts=mrsync" (installed from the package) or ` +
      `"npm install" (a clone): either needs python3, make and g++\n`);
    process.exit(4);
  }
}

export const native: NativeModule = load();
export const PACKET_OVERHEAD = native.overhead;
