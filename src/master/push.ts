// multicaster: the master side of one push. Scans the source, starts a
// catcher on every target through the remote shell, multicasts the manifest,
// collects each target's needs, then runs a window of per-file flows
// (flow.ts) over the native page loop until every target has every file it
// needs, or has been dropped, or has failed that file.
import BitSet from 'bitset';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ManifestSet, SEG_BASE, ScanStep, ScanTotals, Selection, decodeManifest, entryOf, isSegment, objectOf, scanSegments } from '../wire/manifest';
import { Filter } from '../wire/filter';
import { FileFlow, FlowAction, FlowTiming } from './flow';
import { LoopEvent, LoopStats, NativePageLoop, PACKET_OVERHEAD, native, openPageLoop } from '../native';
import { display } from '../wire/paths';
import { openFileBeneath, openRoot } from './source';
import {
  CHECK_CHUNK_PAGES, CHECK_MIN_PAGES, DoneCode, Msg, decodeDone, decodeMissing, encodeAbort, encodeCheck, encodeSums, sumsPerDatagram, withAwaited,
} from '../wire/protocol';
import { CatcherChannel, DaemonCatcher, RemoteCatcher, shq } from '../channel/remote';
import { MAX_PAGES, pagesOf, runPages, unionRuns } from '../wire/runs';
import { CatcherLine, LocalCounts, PacketCounts, SESSION_VERSION, SessionParams, SyncParams, Usage, usageNow } from '../wire/session';
import { anonymousFile } from '../catcher/fsx';
import { Logger } from '../operator/log';
import { RateControl } from './rate';
import { NetOptions, UserError, wireOverhead } from '../options';
import { MasterSigner } from '../wire/signing';

export interface PushOptions extends NetOptions {
  targets: string[];
  src: Buffer;
  dst: Buffer;
  pageSize: number;
  rateBps: number;       // fixed (--rate), or where the adaptive rate starts
  maxRateBps: number;    // --max-rate
  parity: boolean;       // repair with parity pages (--no-parity: plain re-sends only)
  adaptive: boolean;     // the rate follows the targets' feedback (no --rate)
  waitSec: number;
  quitOnDrop: boolean;
  removeFirst: boolean;
  encrypt: boolean;
  daemon?: { port: number; psk: Buffer }; // reach multicatcher --daemon over TLS instead of the remote shell
  sync: SyncParams;
  select?: Selection;   // -l, --files-from, or a file as -s
  verbose: number;
  window: number;
}

export type TargetState = 'launching' | 'ready' | 'active' | 'finishing' | 'finished' | 'failed' | 'dropped';

export interface FileFailure { path: string; error: string }

export interface TargetReport {
  host: string;
  state: 'OK' | 'FAILED' | 'DROPPED' | 'UNREACHABLE';
  filesSent: number;     // files whose data this target received and committed
  bytesSent: number;
  needed: number;        // files with data this target needed
  missingPages: number;  // pages it asked for again
  local?: LocalCounts;
  failures: FileFailure[];
  error?: string;
  slowest: { path: string; seconds: number } | null;
  rttUs: number[];
  packets: PacketCounts | null; // what the target's catcher dropped (from its result)
  usage: Usage | null;           // its catcher's CPU and peak RSS (from its result)
  feedback: number;              // control datagrams it sent the master
  slow: boolean;                 // was set aside as slow and caught up after the others
  items?: string[];              // -n: what would change, rsync --itemize-changes style
  wouldSend?: { files: number; bytes: number }; // -n
}

export interface Progress {
  phase: string;
  seconds: number;
  bytesTotal: number;
  bytesSent: number;
  filesTotal: number;
  filesDone: number;
  targets: number;
  complete: number;
  behind: number;
  dropped: number;
}

export interface PushReport {
  targets: TargetReport[];
  entries: number;
  files: number;        // data files multicast
  bytes: number;        // their bytes, once
  pagesSent: number;    // data pages on the wire, first sends
  pagesResent: number;  // plain and parity
  parityPages: number;  // of which parity
  pagesChecked: number; // of which sent at checkpoints, during the first pass of big files
  seconds: number;
  skipped: string[];
  changed: string[];    // source files that changed while being sent
  stats: LoopStats;
  usage: Usage;         // the master's own CPU (all threads) and peak RSS
  quit: boolean;
  session: string;
  pageSize: number;
  started: number;   // ms since the epoch
  dryRun: boolean;
  segments: number;  // manifest segments multicast
  rate: { adaptive: boolean; history: number[]; max: number }; // bits/s: where it started and each change
}

interface Target {
  idx: number;
  host: string;
  remote: CatcherChannel;
  state: TargetState;
  lastHeard: number;
  stateSince: number;
  needs: BitSet.BitSet | null;
  result?: Extract<CatcherLine, { t: 'result' }>;
  local?: LocalCounts;
  error?: string;
  filesOk: number;
  remaining: number;    // files it needs whose flow has not ended for it yet
  bytesOk: number;
  missingPages: number;
  failures: Map<number, string>;
  slowest: { path: string; seconds: number } | null;
  rttUs: number[];      // OPEN -> OPEN_OK round trips, as the original's monitor gathered them
  items: string[];      // -n: itemized changes
  feedback: number;     // control datagrams received from it (OPEN_OK, MISSING, WAIT, DONE)
  slow: boolean;        // set aside: far behind the others; its files are deferred to the catch-up
  wasSlow: boolean;
  deferred: number[];   // objects to send it in the catch-up
}

interface Sending {
  flow: FileFlow;
  fd: number;
  size: number;
  before?: fs.BigIntStats;
  entry: number;
  openedAt: number;     // ms, first OPEN (or first page for the manifest)
  // a file's SHA-256, taken by the native sender as the first pass reads the
  // pages (the content the targets got): known when the pass is out, before
  // the first EOF, and sent with every EOF
  hash: Buffer | null;
  jobsOut: number;      // native send jobs not yet reported: the fd stays open until they are
  ended: boolean;
  passing: boolean;     // a file's first pass not hashed yet (counted in Push.firstPasses)
  lastOpenNs: number;   // monoNs of the latest OPEN sent
  checks?: number;      // checkpoints asked so far
  check?: Checkpoint | null;
}

/** A checkpoint being answered: per target, what it lacks of the pages sent so far (complete when its runs cover its total). */
interface Checkpoint { k: number; deadline: number; answers: Map<number, { total: number; runs: Uint32Array }> }

/** How long files' hashes wait to fill a signed Sums datagram (flushSums). */
const SUMS_WAIT_MS = 10;
/** How long a checkpoint waits for the targets' answers before repairing what it was told (the rest waits for EOF). */
const CHECK_WAIT_MS = 100;

/** Entries per manifest segment (about 200 KiB of manifest for typical names). */
const SEG_ENTRIES = Number(process.env.MRSYNC_TEST_SEG_ENTRIES) || 4096;
/** Test knob: pause the scan this long after each segment (to watch data flow while it runs). */
/** Rate reports from each target every 100 ms, spread out with many targets (1 s at 200): about 200 a second in all. */
const STAT_MS = 100;
const SCAN_PAUSE_MS = Number(process.env.MRSYNC_TEST_SCAN_PAUSE_MS) || 0;

const TIMING: FlowTiming = { retryMs: 40, maxRetryMs: 1000, sitOutRounds: 50 };

/**
 * Data-path features on by default; MRSYNC_GSO=0 (UDP GSO), MRSYNC_BOOST=0
 * (the sending thread's priority) and MRSYNC_CHECK=0 (checkpoints) turn one
 * off, to measure what it brings (bench/RESULTS.md).
 */
function feature(name: 'GSO' | 'BOOST' | 'CHECK'): boolean {
  return process.env[`MRSYNC_${name}`] !== '0';
}

function parityPages(p: Uint32Array | undefined): number {
  let n = 0;
  if (p) for (let i = 2; i < p.length; i += 3) n += p[i];
  return n;
}

export class Push {
  private loop!: NativePageLoop;
  private targets: Target[] = [];
  private entries = new ManifestSet();
  private skipped: string[] = [];
  private changed: string[] = [];
  private readonly key = crypto.randomBytes(32);
  private readonly signer = new MasterSigner(); // signs what targets commit by (signing.ts)
  private sumsOut = new Map<number, Buffer>();  // files' SHA-256s to go out in the next signed Sums
  private sumsSince = 0;                        // when the oldest of them was queued (ms)
  private sumsNow = false;                      // a target waits for one (NeedSum): out at once
  private sumsSent = 0;
  private heldEofs = new Map<number, number>(); // file -> round of its EOF, held until its Sums is out
  private firstPasses = 0;                      // file flows whose first pass is not hashed yet
  private masterAddr = '';                      // where our datagrams leave from: the targets' feedback goes there
  private readonly session = crypto.randomBytes(4).readUInt32BE(0);
  // launch: catchers starting (the scan runs meanwhile); data: manifest segments, plans and file
  // data interleaved, while the scan goes on; finish: results; done
  private phase: 'launch' | 'data' | 'finish' | 'done' = 'launch';
  private flows = new Map<number, Sending>();
  private jobs = new Map<number, Sending>(); // native send job -> the flow that queued it
  private checkAt = new Map<number, number>(); // a big file's chunk job -> the page its checkpoint asks up to
  private pagesChecked = 0; // pages repaired at checkpoints (during the first pass)
  private ackMs = 0;        // smoothed time from an OPEN to a target's ack (ms)
  private nextJob = 1;
  private queue: number[] = [];             // objects still to send
  private preparing = 0;
  private scanner!: Generator<ScanStep, ScanTotals, boolean | undefined>;
  private scanDone = false;
  private scanError: Error | null = null;
  private segStarted = Date.now();
  private segs = new Map<number, { fd: number; size: number; hash: Buffer; first: number; count: number; union: BitSet.BitSet; endedAt: number }>();
  private segsWaiting: number[] = [];                  // made, not yet multicast (targets still launching)
  private ids = new BigUint64Array(0);                 // device and inode of each file entry as scanned (2 per entry)
  private srcFd = -1;                                  // the source root: files are opened beneath it (source.ts)
  private segPlanning = new Map<number, Set<number>>(); // segment -> targets (idx) yet to report its needs
  private started = Date.now();
  private files = 0;
  private bytes = 0;
  private pagesFirst = 0;
  private parityPages = 0;
  private pagesResent = 0;
  private filesPlanned = 0;
  private bytesPlanned = 0;
  private filesDone = 0;
  private quit = false;
  private resolveDone!: () => void;
  private timer: NodeJS.Timeout | null = null;
  private rc: RateControl | null = null;
  private catchup = false;
  private catchupNeeders = new Map<number, number[]>();

  constructor(private readonly o: PushOptions, private readonly log: Logger) {}

  async run(): Promise<PushReport> {
    try {
      this.masterAddr = native.multicastSource(this.o.family, this.o.group, this.o.port, this.o.ifname);
    } catch (e) {
      throw new UserError(`${(e as Error).message}: name the interface with -I`);
    }
    this.srcFd = openRoot(this.o.src);
    if (this.o.adaptive) this.rc = new RateControl({ start: this.o.rateBps, max: this.o.maxRateBps, min: Math.min(1e6, this.o.maxRateBps) });
    this.loop = openPageLoop({
      family: this.o.family, group: this.o.group, port: this.o.port, bindPort: this.o.port - 1 || 0,
      ifname: this.o.ifname, ttl: this.o.ttl, loopback: this.o.loopback, join: false, key: this.key,
      sender: 0, pageSize: this.o.pageSize, rateBps: this.o.rateBps,
      wireOverhead: wireOverhead(this.o.family), rcvbuf: 16 << 20, sndbuf: 8 << 20, encrypt: this.o.encrypt,
      gso: feature('GSO'), boost: feature('BOOST'),
    }, (evs) => this.onEvents(evs));
    // the scan streams: segments of the manifest go out (and files they list
    // flow) while the rest of the tree is still being read
    this.scanner = scanSegments(this.o.src, { filter: Filter.of(this.o.sync.filters), select: this.o.select, checksum: this.o.sync.checksum }, SEG_ENTRIES);
    const done = new Promise<void>((r) => { this.resolveDone = r; });
    this.launchAll();
    this.timer = setInterval(() => this.tick(), 10);
    this.pumpScan();
    await done;
    if (this.timer) clearInterval(this.timer);
    const stats = this.loop.stats();
    this.loop.stop();
    for (const [, sg] of this.segs) if (sg.fd >= 0) { try { fs.closeSync(sg.fd); } catch { /* closed */ } }
    fs.closeSync(this.srcFd);
    if (this.scanError) throw this.scanError;
    return this.report(stats);
  }

  /** Scan for up to 50 ms at a time; a segment is cut at SEG_ENTRIES entries or after waiting 200 ms. */
  private pumpScan(): void {
    if (this.phase === 'done') return;
    const t0 = Date.now();
    try {
      let cut = false;
      while (Date.now() - t0 < 50) {
        const r = this.scanner.next(cut);
        cut = false;
        if (r.done) {
          this.scanDone = true;
          this.skipped = r.value.skipped;
          for (const sk of this.skipped) this.log.warn(`skipping special file ${sk}`);
          this.log.debug(`manifest: ${r.value.entries} entries in ${this.segs.size} segments`);
          this.step();
          return;
        }
        if ('segment' in r.value) {
          this.addSegment(r.value.segment, r.value.ids);
          if (SCAN_PAUSE_MS) { setTimeout(() => this.pumpScan(), SCAN_PAUSE_MS); return; }
        } else {
          cut = Date.now() - this.segStarted > 200;
        }
      }
    } catch (e) {
      this.abortRun(e as Error);
      return;
    }
    setImmediate(() => this.pumpScan());
  }

  private addSegment(bytes: Buffer, ids: BigUint64Array): void {
    const m = decodeManifest(bytes, this.entries); // the master reads its manifest as the targets will
    if (this.ids.length < 2 * (m.first + m.length)) {
      const more = new BigUint64Array(Math.max(2 * (m.first + m.length), 2 * this.ids.length));
      more.set(this.ids);
      this.ids = more;
    }
    this.ids.set(ids, 2 * m.first);
    const k = this.segs.size;
    const fd = anonymousFile();
    fs.writeSync(fd, bytes, 0, bytes.length, 0);
    this.segs.set(k, {
      fd, size: bytes.length, hash: crypto.createHash('sha256').update(bytes).digest(), first: m.first, count: m.length,
      union: new BitSet(), endedAt: 0,
    });
    this.segsWaiting.push(k);
    this.segStarted = Date.now();
    this.step();
  }

  /** The scan failed (an unreadable source directory): end every channel, then run() throws. */
  private abortRun(e: Error): void {
    this.scanError = e;
    this.phase = 'done';
    for (const t of this.targets) t.remote.close();
    void this.waitExits().then(() => this.resolveDone());
  }

  // ---- targets ----

  private launchAll(): void {
    const cmd = `${shq(this.o.remotePath)}`;
    this.o.targets.forEach((host, idx) => {
      const remote = this.o.daemon ? new DaemonCatcher(host, this.o.daemon.port, this.o.daemon.psk) : new RemoteCatcher(host, this.o.rsh, cmd);
      const t: Target = {
        idx, host, remote, state: 'launching', lastHeard: Date.now(), stateSince: Date.now(), needs: null,
        filesOk: 0, remaining: 0, bytesOk: 0, missingPages: 0, failures: new Map(), slowest: null, rttUs: [], items: [], feedback: 0, slow: false, wasSlow: false, deferred: [],
      };
      this.targets.push(t);
      remote.on('line', (l) => this.onLine(t, l));
      remote.on('exit', () => this.onExit(t));
      const p: SessionParams = {
        v: SESSION_VERSION, session: this.session, key: this.key.toString('hex'), sender: idx + 1, host,
        family: this.o.family, group: this.o.group, port: this.o.port, ttl: this.o.ttl, loopback: this.o.loopback,
        pageSize: this.o.pageSize, dst: this.o.dst.toString('base64'), removeFirst: this.o.removeFirst, verbose: this.o.verbose, encrypt: this.o.encrypt,
        sync: this.o.sync, statMs: STAT_MS * Math.max(1, Math.ceil(this.o.targets.length / 20)),
        master: this.masterAddr, masterPort: this.loop.localPort(), signKey: this.signer.publicKey,
      };
      remote.start(p);
    });
  }

  private live(t: Target): boolean {
    return t.state !== 'failed' && t.state !== 'dropped';
  }

  private setState(t: Target, s: TargetState): void {
    t.state = s;
    t.stateSince = Date.now();
    this.log.debug(`state ${s}`, { host: t.host });
  }

  get sessionId(): string { return this.session.toString(16).padStart(8, '0'); }

  private onLine(t: Target, l: CatcherLine): void {
    t.lastHeard = Date.now();
    switch (l.t) {
      case 'ready':
        if (t.state === 'launching') this.setState(t, 'ready');
        break;
      case 'needs': {
        // one per manifest segment; the line may overtake the multicast DONE of the segment
        const sg = this.segs.get(l.seg);
        const waiting = this.segPlanning.get(l.seg);
        if (!sg || !waiting?.has(t.idx)) break;
        const mine = typeof l.bitmap === 'string' && /^[0-9a-f]{1,}$/i.test(l.bitmap) ? BitSet.fromHexString(l.bitmap) : null;
        if (!mine || l.first !== sg.first || (!mine.isEmpty() && mine.msb() >= sg.count)) { this.failTarget(t, 'failed', 'bad needs report'); break; }
        if (!t.needs) t.needs = new BitSet();
        for (const j of mine.toArray()) t.needs.set(objectOf(sg.first + j), 1);
        t.remaining += mine.cardinality();
        t.local = l.local;
        sg.union = sg.union.or(mine);
        waiting.delete(t.idx);
        if (t.state === 'ready') this.setState(t, 'active');
        this.log.debug('needs', { host: t.host, segment: l.seg, files: mine.cardinality() });
        break;
      }
      case 'log':
        if (l.level === 'error') this.log.error(l.msg, { host: t.host, from: 'catcher' });
        else if (l.level === 'warn') this.log.warn(l.msg, { host: t.host, from: 'catcher' });
        else this.log.debug(l.msg, { host: t.host, from: 'catcher' });
        break;
      case 'fatal':
        this.failTarget(t, 'failed', l.msg);
        break;
      case 'itemize':
        if (Array.isArray(l.lines)) for (const x of l.lines) if (typeof x === 'string') t.items.push(x);
        break;
      case 'result':
        t.result = l;
        t.local = l.local;
        if (t.state === 'finishing') { this.setState(t, 'finished'); t.remote.close(); }
        break;
    }
    this.step();
  }

  private onExit(t: Target): void {
    if (t.state === 'finished' || !this.live(t)) { this.step(); return; }
    const launching = t.state === 'launching';
    this.failTarget(t, launching ? 'failed' : 'dropped', t.remote.exitReason(launching ? 'remote shell failed' : 'catcher exited early'));
    this.step();
  }

  private failTarget(t: Target, state: 'failed' | 'dropped', why: string): void {
    if (!this.live(t)) return;
    this.rc?.forget(t.idx);
    t.error = why;
    this.setState(t, state);
    this.log.error(why, { host: t.host, state });
    const now = Date.now();
    for (const [, s] of this.flows) this.exec(s, s.flow.drop(t.idx + 1, why, now));
    t.remote.close();
    setTimeout(() => t.remote.kill(), 2000).unref();
    if (state === 'dropped' && this.o.quitOnDrop && !this.quit) {
      this.quit = true;
      this.log.error(`quitting at the first dropped target (-q)`);
      for (const [obj, s] of this.flows) {
        this.sendAbort(obj);
        this.endFlow(obj, s);
      }
      this.queue = [];
    }
  }

  /**
   * A target far behind the others (its link much slower): its files are
   * deferred, the others go on at their pace, and it catches up alone after
   * them (step: catch-up).
   */
  private setAside(t: Target, now: number): void {
    if (!this.live(t) || t.slow || this.catchup) return;
    t.slow = true;
    t.wasSlow = true;
    this.log.warn(`much slower than the others: set aside, catches up after them`, { host: t.host });
    for (const [obj, s] of [...this.flows]) {
      if (isSegment(obj) || !s.flow.pending.has(t.idx + 1)) continue;
      this.exec(s, s.flow.setAside(t.idx + 1, now));
    }
  }

  // ---- the run, phase by phase ----

  private step(): void {
    const now = Date.now();
    if (this.phase === 'launch') {
      if (this.targets.some((t) => t.state === 'launching')) return;
      this.phase = 'data';
      this.targets.filter((t) => t.state === 'ready').forEach((t) => { t.lastHeard = now; });
    }
    if (this.phase === 'data') {
      // manifest segments go out as soon as they are made, ahead of file data
      while (this.segsWaiting.length) {
        const k = this.segsWaiting.shift()!;
        const sg = this.segs.get(k)!;
        const planners = this.targets.filter((t) => t.state === 'ready' || t.state === 'active');
        this.segPlanning.set(k, new Set(planners.map((t) => t.idx)));
        // what the segment holds, over each target's own channel: no other holder of the session key can say otherwise
        const line = { t: 'segment' as const, k, size: sg.size, hash: sg.hash.toString('hex') };
        for (const t of planners) t.remote.send(line);
        this.startFlow(SEG_BASE + k, sg.fd, sg.size, planners.map((t) => t.idx + 1), -1);
      }
      // a segment every live target has planned: its files join the queue
      for (const [k, waiting] of this.segPlanning) {
        for (const idx of waiting) if (!this.live(this.targets[idx])) waiting.delete(idx);
        if (waiting.size) continue;
        this.segPlanning.delete(k);
        const sg = this.segs.get(k)!;
        if (this.o.sync.dryRun) continue; // -n: nothing is sent
        for (const j of sg.union.toArray()) {
          const obj = objectOf(sg.first + j);
          this.queue.push(obj);
          this.filesPlanned++;
          this.bytesPlanned += this.entries.size(entryOf(obj));
        }
      }
      this.fill();
      if (!this.nothingLeftToOpen() || this.flows.size) return;
      const behind = this.targets.filter((t) => this.live(t) && t.deferred.length);
      if (behind.length && !this.catchup) {
        // catch-up: the set-aside targets get their deferred files, alone, at their pace
        this.catchup = true;
        this.rc?.clearSlow();
        for (const t of behind) {
          this.log.info(`catching up ${t.deferred.length} files`, { host: t.host });
          t.slow = false;
          for (const obj of t.deferred) {
            if (!this.catchupNeeders.has(obj)) { this.catchupNeeders.set(obj, []); this.queue.push(obj); }
            this.catchupNeeders.get(obj)!.push(t.idx + 1);
          }
          t.deferred = [];
        }
        this.fill();
        return;
      }
      this.phase = 'finish';
      const aborted: number[] = [];
      for (const t of this.targets) {
        if (t.state !== 'active' && t.state !== 'ready') continue;
        this.setState(t, 'finishing');
        t.lastHeard = now;
        t.remote.send({ t: 'finish', aborted });
      }
    }
    if (this.phase === 'finish') {
      if (this.targets.some((t) => t.state === 'finishing')) return;
      this.phase = 'done';
      for (const t of this.targets) t.remote.close();
      void this.waitExits().then(() => this.resolveDone());
    }
  }

  /** Until every catcher has exited (at most 10 s; then they are killed). */
  private async waitExits(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const exits = this.targets.map((t) => new Promise<void>((r) => {
      if (t.remote.exited) r();
      else t.remote.once('exit', () => r());
    }));
    await Promise.race([Promise.all(exits), new Promise<void>((r) => { timer = setTimeout(r, 10_000); })]);
    clearTimeout(timer);
    for (const t of this.targets) t.remote.kill();
  }

  private tick(): void {
    const now = Date.now();
    if (this.rc) {
      const r = this.rc.tick(now);
      if (r !== null) { this.loop.setRate(r); this.log.debug(`rate ${(r / 1e6).toFixed(1)} Mbit/s`); }
      for (const idx of this.rc.takeSlow()) this.setAside(this.targets[idx], now);
    }
    // silence is counted in seconds (-w): looked for every 100 ms, not at every
    // 10 ms tick (hundreds of targets times the files in flight)
    if (now - this.silenceCheckedAt >= 100) {
      this.silenceCheckedAt = now;
      this.checkSilence(now);
    }
    for (const [, s] of [...this.flows]) {
      if (!this.flows.has(s.flow.object)) continue;
      if (s.check && now >= s.check.deadline) this.finishCheck(s);
      if (this.flows.has(s.flow.object)) this.exec(s, s.flow.tick(now));
    }
    this.flushSums(now);
    this.step();
  }

  private silenceCheckedAt = 0;

  /** Drop the targets silent for longer than -w: launching, planning a segment, awaited on a file, finishing. */
  private checkSilence(now: number): void {
    const waitMs = this.o.waitSec * 1000;
    for (const t of this.targets) {
      if (t.state === 'launching' && now - t.stateSince > Math.max(waitMs, 5000)) this.failTarget(t, 'failed', `no answer from the catcher within ${this.o.waitSec} s`);
      if (t.state === 'finishing' && now - Math.max(t.lastHeard, t.stateSince) > waitMs) {
        this.failTarget(t, 'dropped', `silent for ${this.o.waitSec} s while finishing`);
      }
    }
    // a target that received a segment but does not report its plan
    for (const [k, waiting] of this.segPlanning) {
      const ended = this.segs.get(k)!.endedAt;
      if (!ended) continue;
      for (const idx of waiting) {
        const t = this.targets[idx];
        if (this.live(t) && now - Math.max(t.lastHeard, ended) > waitMs) this.failTarget(t, 'dropped', `silent for ${this.o.waitSec} s while planning`);
      }
    }
    for (const [, s] of [...this.flows]) {
      if (!this.flows.has(s.flow.object) || now - s.flow.phaseSince <= waitMs) continue;
      for (const tid of s.flow.waitingOn()) {
        const t = this.targets[tid - 1];
        if (now - Math.max(t.lastHeard, s.flow.phaseSince) > waitMs) this.failTarget(t, 'dropped', `silent for ${this.o.waitSec} s`);
      }
    }
  }

  private fill(): void {
    while (!this.quit && this.queue.length && this.flows.size + this.preparing < this.o.window) {
      const obj = this.queue.shift()!;
      let needers: number[];
      if (this.catchup) {
        needers = (this.catchupNeeders.get(obj) ?? []).filter((n) => this.live(this.targets[n - 1]));
      } else {
        needers = [];
        for (const t of this.targets) {
          if (t.state !== 'active' || !t.needs?.get(obj)) continue;
          if (t.slow) t.deferred.push(obj); // set aside: it gets this one in the catch-up
          else needers.push(t.idx + 1);
        }
      }
      if (!needers.length) continue;
      this.preparing++;
      void this.prepare(obj, needers).finally(() => { this.preparing--; this.step(); });
    }
  }

  private async prepare(obj: number, needers: number[]): Promise<void> {
    const i = entryOf(obj);
    const e = this.entries.get(i);
    let fd = -1;
    try {
      // beneath the source root, no symlink followed, and the file the scan saw (source.ts)
      const opened = openFileBeneath(this.srcFd, e.path, { dev: this.ids[2 * i], ino: this.ids[2 * i + 1], size: e.size });
      fd = opened.fd;
      const before = opened.st;
      const size = Number(before.size);
      if (this.quit) { fs.closeSync(fd); return; }
      const live = needers.filter((n) => this.live(this.targets[n - 1]));
      if (pagesOf(size, this.o.pageSize) > MAX_PAGES) {
        throw Object.assign(new Error(`too big: more than ${MAX_PAGES} pages of ${this.o.pageSize} bytes (raise --page-size)`), { code: 'EFBIG' });
      }
      // the OPEN names the file only (its size and metadata are the manifest's): the pages go out at once, the
      // native sender hashes them as it reads them, and the hash goes out in a signed Sums before the EOF
      this.startFlow(obj, fd, size, live, i, before);
      this.files++;
      this.bytes += size;
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      const changed = (err as NodeJS.ErrnoException).code === 'ECHANGED';
      const big = (err as NodeJS.ErrnoException).code === 'EFBIG';
      const code = (err as NodeJS.ErrnoException).code;
      const msg = changed ? `${(err as Error).message} on the master, not sent`
        : big ? (err as Error).message
        : `source unreadable: ${code ?? (err as Error).message}${code === 'ELOOP' ? ' (a directory on its path replaced by a symlink?)' : ''}`;
      this.log.error(`${display(e.path)}: ${msg}`, { path: display(e.path) });
      if (changed) this.changed.push(display(e.path));
      for (const n of needers) {
        this.targets[n - 1].failures.set(obj, msg);
        this.targets[n - 1].remaining--;
      }
    }
  }

  /** The scan is over and every file it found to send has been opened (the flows in flight are the last). */
  private nothingLeftToOpen(): boolean {
    return this.scanDone && !this.segsWaiting.length && !this.segPlanning.size && !this.queue.length && !this.preparing;
  }

  /** 0 while files are left to open; at the tail, the line time of one page at the current rate (ms). */
  private readonly tailPageMs = (): number => {
    if (!this.nothingLeftToOpen()) return 0;
    const bps = this.rc ? this.rc.rate() : this.o.rateBps;
    return ((this.o.pageSize + PACKET_OVERHEAD + wireOverhead(this.o.family)) * 8 * 1000) / bps;
  };

  /** before: a file's stat when it was opened (to tell a change during the send); none for a manifest segment. */
  private startFlow(obj: number, fd: number, size: number, needers: number[], entry: number, before?: fs.BigIntStats): void {
    // first re-send of an unanswered OPEN/EOF: 3x the targets' typical answer time (a busy target answers late; a
    // re-send too early makes every target answer twice)
    const retryMs = Math.min(500, Math.max(TIMING.retryMs, Math.round(3 * this.ackMs)));
    const flow = new FileFlow(obj, pagesOf(size, this.o.pageSize), needers, { ...TIMING, retryMs, parity: this.o.parity, tailPageMs: this.tailPageMs }, Date.now());
    const s: Sending = {
      flow, fd, size, entry, before, openedAt: Date.now(), lastOpenNs: 0, jobsOut: 0, ended: false, passing: entry >= 0,
      hash: null,
    };
    this.flows.set(obj, s);
    if (s.passing) this.firstPasses++;
    this.exec(s, flow.start(Date.now()));
  }

  private exec(s: Sending, actions: FlowAction[]): void {
    const obj = s.flow.object;
    for (const a of actions) {
      switch (a.a) {
        case 'open':
          s.lastOpenNs = native.monoNs();
          this.loop.sendControl(Msg.Open, obj, 0, withAwaited(s.flow.waitingOn(), this.targets.length, null), false);
          break;
        case 'pages': {
          if (!a.runs && s.flow.pages >= CHECK_MIN_PAGES && s.entry >= 0 && feature('CHECK')) { this.sendChunks(s); break; }
          const n = a.runs ? runPages(a.runs) + parityPages(a.parity) : s.flow.pages;
          if (a.runs) this.pagesResent += n;
          else this.pagesFirst += n;
          this.parityPages += parityPages(a.parity);
          if (a.runs) this.log.debug('repair round', { object: obj, round: s.flow.round, pages: n, parity: parityPages(a.parity) });
          this.queueJob(s, a.runs, a.parity, false, !a.runs && s.entry >= 0);
          break;
        }
        case 'eof':
          this.log.debug('eof', { object: obj, round: a.round });
          if (s.entry >= 0 && !s.hash) { this.abortFlow(s, 'internal error: the first pass was not hashed'); break; }
          // a file's EOF follows its signed hash: a target answers it with Done, not NeedSum
          if (this.sumsOut.has(obj)) this.heldEofs.set(obj, a.round);
          else this.sendEof(s, a.round);
          break;
        case 'finished':
          this.endFlow(obj, s);
          break;
      }
    }
  }

  /** Tell every target to drop what it has of obj (signed: no other target can make it do so). */
  private sendAbort(obj: number): void {
    this.loop.sendControl(Msg.Abort, obj, 0, encodeAbort(obj, this.signer), false);
  }

  /** A file's SHA-256 for the next signed Sums; now: a target is waiting for it. */
  private queueSum(obj: number, hash: Buffer, now: number, urgent = false): void {
    if (!this.sumsOut.size) this.sumsSince = now;
    this.sumsOut.set(obj, hash);
    if (urgent) this.sumsNow = true;
  }

  /**
   * The SHA-256s of first passes go out in signed Sums datagrams, up to 38
   * to a datagram (signing.ts: what a target commits a file by comes from
   * the master alone), then the EOFs held for them. A signature costs the
   * master ~30 us and every target ~70 us to check, so sums wait to fill a
   * datagram, at most SUMS_WAIT_MS (the files' EOFs wait with them; the
   * window keeps the link busy meanwhile), and go at once when no first
   * pass is left to add one, or a target asked for one again.
   */
  private flushSums(now: number): void {
    if (!this.sumsOut.size) return;
    const per = sumsPerDatagram(this.o.pageSize);
    if (this.sumsOut.size < per && !this.sumsNow && this.firstPasses > 0 && now - this.sumsSince < SUMS_WAIT_MS) return;
    const all = [...this.sumsOut];
    this.sumsOut.clear();
    this.sumsNow = false;
    for (let i = 0; i < all.length; i += per) {
      const index = this.sumsSent++;
      this.loop.sendControl(Msg.Sums, 0, index, encodeSums(all.slice(i, i + per), index, this.signer), false);
    }
    for (const [obj] of all) {
      const round = this.heldEofs.get(obj);
      if (round === undefined) continue;
      this.heldEofs.delete(obj);
      const s = this.flows.get(obj);
      if (s && s.flow.phase === 'eof' && s.flow.round === round) this.sendEof(s, round);
    }
  }

  /** Give up on a file for every target still on it (they drop their temp files). */
  private abortFlow(s: Sending, why: string): void {
    this.sendAbort(s.flow.object);
    const now = Date.now();
    for (const t of [...s.flow.pending]) this.exec(s, s.flow.drop(t, why, now));
  }

  private sendEof(s: Sending, round: number): void {
    this.loop.sendControl(Msg.Eof, s.flow.object, round, withAwaited(s.flow.waitingOn(), this.targets.length, null), false);
  }

  /**
   * A native send job for the flow; its fd stays open until the job is
   * reported. hash: a part of a file's first pass (its pages hashed as they
   * are read; see Sending.hash).
   */
  private queueJob(s: Sending, runs: Uint32Array | null, parity?: Uint32Array, urgent = false, hash = false): number {
    const job = this.nextJob++;
    this.jobs.set(job, s);
    s.jobsOut++;
    this.loop.sendPages(job, s.flow.object, s.fd, s.size, runs, parity, urgent, hash);
    return job;
  }

  /** A big file's first pass: chunk jobs, each followed by a checkpoint (all but the last). */
  private sendChunks(s: Sending): void {
    const pages = s.flow.pages;
    this.pagesFirst += pages;
    s.checks = 0;
    for (let p = 0; p < pages; p += CHECK_CHUNK_PAGES) {
      const end = Math.min(pages, p + CHECK_CHUNK_PAGES);
      const job = this.queueJob(s, Uint32Array.of(p, end - p), undefined, false, true);
      if (end < pages) this.checkAt.set(job, end);
    }
  }

  // Each checkpoint asks about every page sent so far: what an earlier
  // checkpoint's repair did not fix (a lost parity page, a late answer) is
  // asked again. Nothing is repaired twice: a checkpoint goes out when its
  // chunk job is done, and the repairs of earlier checkpoints (urgent jobs)
  // went out before that chunk's last page, ahead of it on the same path.
  private startCheck(s: Sending, to: number, now: number): void {
    if (s.check) this.finishCheck(s);
    const k = (s.checks = (s.checks ?? 0) + 1);
    s.check = { k, deadline: now + CHECK_WAIT_MS, answers: new Map() };
    this.loop.sendControl(Msg.Check, s.flow.object, k, encodeCheck(0, to), false);
  }

  private onCheckMissing(s: Sending, t: number, k: number, p: Buffer): void {
    const c = s.check;
    if (!c || c.k !== k || !s.flow.pending.has(t)) return;
    const info = decodeMissing(p, s.flow.pages);
    if (!info) return;
    const prev = c.answers.get(t);
    c.answers.set(t, { total: info.total, runs: prev ? unionRuns([prev.runs, info.runs]) : info.runs });
    for (const u of s.flow.pending) {
      const a = c.answers.get(u);
      if (!a || runPages(a.runs) < a.total) return;
    }
    this.finishCheck(s);
  }

  /** Repair what the targets said they lack of the checkpoint's pages, ahead of the chunks still queued. */
  private finishCheck(s: Sending): void {
    const c = s.check;
    s.check = null;
    if (!c || s.flow.phase !== 'sending' || !this.flows.has(s.flow.object)) return;
    const plan = s.flow.repair([...c.answers.values()].map((a) => a.runs));
    if (plan.pages === 0) return;
    this.pagesResent += plan.pages;
    this.parityPages += plan.parityPages;
    this.pagesChecked += plan.pages;
    this.log.debug('checkpoint repair', { object: s.flow.object, check: c.k, answers: c.answers.size, pages: plan.pages, parity: plan.parityPages });
    this.queueJob(s, plan.runs, plan.parityPages ? plan.parity : undefined, true);
  }

  private endFlow(obj: number, s: Sending): void {
    if (!this.flows.has(obj)) return;
    this.flows.delete(obj);
    this.passed(s);
    this.heldEofs.delete(obj);
    let shown: string | undefined; // the path as a message shows it: made once, and only for a message
    const path = (): string => (shown ??= display(this.entries.path(s.entry)));
    for (const [t, out] of s.flow.outcomes) {
      const tg = this.targets[t - 1];
      if (isSegment(obj)) continue;
      if (out.deferred) { tg.deferred.push(obj); continue; } // set aside as slow: sent again in the catch-up
      tg.remaining--;
      if (out.ok) {
        tg.filesOk++;
        tg.bytesOk += s.size;
        if (this.log.debugging) this.log.debug('file delivered', { host: tg.host, path: path(), bytes: s.size });
      } else {
        tg.failures.set(obj, out.message);
        if (this.live(tg)) this.log.warn(`${path()}: ${out.message}`, { host: tg.host, path: path() });
      }
    }
    if (isSegment(obj)) {
      const sg = this.segs.get(obj - SEG_BASE)!;
      sg.endedAt = Date.now();
      sg.fd = -1;
      this.release(s);
      for (const [t, out] of s.flow.outcomes) {
        const tg = this.targets[t - 1];
        if (this.live(tg) && !out.ok) this.failTarget(tg, 'failed', `manifest not received: ${out.message}`);
      }
      return;
    }
    if (!this.catchup) this.filesDone++;
    const change = this.changeOf(s);
    if (change) {
      const name = path();
      this.changed.push(change === 'deleted' ? `${name} (deleted)` : name);
      this.log.warn(`${name}: ${change} on the master while being sent`, { path: name });
    }
    this.release(s);
  }

  /**
   * Whether the source file moved since it was opened for sending: any write
   * or unlink moves ctime. An unlinked file keeps its content for our open
   * fd (the targets get the content read, of a file the source no longer has).
   */
  private changeOf(s: Sending): 'changed' | 'deleted' | null {
    if (!s.before || s.fd < 0) return null;
    try {
      const after = fs.fstatSync(s.fd, { bigint: true });
      if (after.size === s.before.size && after.mtimeNs === s.before.mtimeNs && after.ctimeNs === s.before.ctimeNs) return null;
      return after.nlink === 0n ? 'deleted' : 'changed';
    } catch { return null; }
  }

  /** Close a finished flow's file once no native send job can still read it (its number may be reused at once). */
  private release(s: Sending): void {
    s.ended = true;
    if (s.jobsOut === 0 && s.fd >= 0) { fs.closeSync(s.fd); s.fd = -1; }
  }

  // ---- native events ----

  private onEvents(evs: LoopEvent[]): void {
    const now = Date.now();
    for (const e of evs) {
      if (e.kind === 'sent' || e.kind === 'jobError') {
        const s = this.jobs.get(e.index);
        this.jobs.delete(e.index);
        if (!s) continue;
        s.jobsOut--;
        const checkTo = this.checkAt.get(e.index);
        this.checkAt.delete(e.index);
        if (s.ended) { this.release(s); continue; }
        if (this.flows.get(s.flow.object) !== s) continue;
        if (e.kind === 'sent') {
          if (e.payload) {
            // the hash of the pages as read: if the file was written meanwhile
            // they may be half old, half new; that hash must not let a target
            // commit them
            if (this.changeOf(s) === 'changed') { this.abortFlow(s, 'changed on the master while being sent, not committed'); continue; }
            s.hash = Buffer.from(e.payload);
            this.passed(s);
            this.queueSum(s.flow.object, s.hash, now);
          }
          if (checkTo !== undefined) this.startCheck(s, checkTo, now);
          // the pass (its chunks and the checkpoints' repairs) is over when its last job is
          if (s.jobsOut === 0) {
            if (s.check) this.finishCheck(s);
            if (s.jobsOut === 0) this.exec(s, s.flow.onSent(now));
          }
        }
        else {
          this.abortFlow(s, e.err === 61 /* ENODATA */ ? 'source file shrank while being sent' : `source read error (errno ${e.err})`);
          if (s.entry >= 0) this.changed.push(display(this.entries.path(s.entry)));
        }
        continue;
      }
      if (e.kind !== 'control' || e.sender < 1 || e.sender > this.targets.length) continue;
      const t = this.targets[e.sender - 1];
      if (!this.live(t)) continue;
      t.lastHeard = now;
      t.feedback++;
      if (e.type === Msg.Stat) {
        if (e.payload && e.payload.length === 16) this.rc?.stat(t.idx, now, Number(e.payload.readBigUInt64BE(0)), Number(e.payload.readBigUInt64BE(8)));
        continue;
      }
      const s = this.flows.get(e.object);
      if (!s) continue;
      const p = e.payload ?? Buffer.alloc(0);
      switch (e.type) {
        case Msg.OpenOk:
          if (s.lastOpenNs && e.rxNs > s.lastOpenNs && t.rttUs.length < 100_000 && s.flow.isWaitingOn(e.sender)) {
            t.rttUs.push((e.rxNs - s.lastOpenNs) / 1000);
            this.ackMs = 0.9 * this.ackMs + 0.1 * ((e.rxNs - s.lastOpenNs) / 1e6);
          }
          this.exec(s, s.flow.onOpenOk(e.sender, now));
          break;
        case Msg.CheckMissing:
          this.onCheckMissing(s, e.sender, e.index, p);
          break;
        case Msg.Missing: {
          const info = decodeMissing(p, s.flow.pages);
          if (!info) break;
          if (e.index === s.flow.round && s.flow.phase === 'eof' && s.flow.isWaitingOn(e.sender)) t.missingPages += info.total;
          this.exec(s, s.flow.onMissing(e.sender, e.index, info, now));
          break;
        }
        case Msg.Done: {
          const d = decodeDone(p);
          if (!d) break;
          if (d.code === DoneCode.Ok && s.entry >= 0 && s.flow.pending.has(e.sender)) {
            const secs = (now - s.openedAt) / 1000;
            if (!t.slowest || secs > t.slowest.seconds) t.slowest = { path: display(this.entries.path(s.entry)), seconds: secs };
          }
          this.exec(s, s.flow.onDone(e.sender, { ok: d.code === DoneCode.Ok, message: d.message }, now));
          break;
        }
        case Msg.Wait:
          s.flow.onWait(e.sender, e.index, now);
          break;
        case Msg.NeedSum:
          // its Sums was lost: once more (every target asking in this batch gets the one)
          if (s.hash && s.flow.isWaitingOn(e.sender)) this.queueSum(s.flow.object, s.hash, now, true);
          break;
        default:
          break;
      }
    }
    this.flushSums(now);
    this.step();
  }

  /** A file's first pass is hashed, or its flow ended without: one first pass fewer to wait for. */
  private passed(s: Sending): void {
    if (!s.passing) return;
    s.passing = false;
    this.firstPasses--;
  }

  // ---- progress ----

  /** What a progress line shows; cheap enough to call a few times a second. */
  snapshot(): Progress {
    let complete = 0;
    let behind = 0;
    let dropped = 0;
    for (const t of this.targets) {
      if (!this.live(t)) { dropped++; continue; }
      const waiting = t.needs === null || t.remaining > 0;
      if ((this.phase === 'data' && this.scanDone && !this.segPlanning.size) || this.phase === 'finish' || this.phase === 'done') {
        if (waiting) behind++;
        else complete++;
      } else {
        behind++;
      }
    }
    const st = this.loop.stats();
    return {
      phase: this.phase, seconds: (Date.now() - this.started) / 1000,
      bytesTotal: this.bytesPlanned, bytesSent: Math.min(this.bytesPlanned, st.dataSent * this.o.pageSize),
      filesTotal: this.filesPlanned, filesDone: this.filesDone,
      targets: this.targets.length, complete, behind, dropped,
    };
  }

  // ---- report ----

  private report(stats: LoopStats): PushReport {
    const targets: TargetReport[] = this.targets.map((t) => {
      const failures: FileFailure[] = [];
      for (const [obj, error] of t.failures) failures.push({ path: display(this.entries.path(entryOf(obj))), error });
      if (t.result) {
        for (const f of t.result.failed) {
          const obj = objectOf(f.entry);
          if (t.failures.has(obj) || f.entry >= this.entries.length) continue;
          failures.push({ path: display(this.entries.path(f.entry)), error: f.error });
        }
      }
      let state: TargetReport['state'] = 'OK';
      if (t.state === 'failed') state = t.remote.heard ? 'FAILED' : 'UNREACHABLE';
      else if (t.state === 'dropped') state = 'DROPPED';
      else if (failures.length || !t.result || !t.result.ok) state = 'FAILED';
      return {
        host: t.host, state, filesSent: t.filesOk, bytesSent: t.bytesOk, needed: t.needs?.cardinality() ?? 0,
        missingPages: t.missingPages, local: t.local, failures, error: t.error, slowest: t.slowest, rttUs: t.rttUs,
        packets: t.result?.packets ?? null,
        usage: t.result?.usage ?? null,
        feedback: t.feedback,
        slow: t.wasSlow,
        ...(this.o.sync.dryRun ? {
          items: t.items,
          wouldSend: { files: t.needs?.cardinality() ?? 0, bytes: (t.needs?.toArray() ?? []).reduce((a, o) => a + this.entries.size(entryOf(o)), 0) },
        } : {}),
      };
    });
    return {
      targets, entries: this.entries.length, files: this.files, bytes: this.bytes, pagesSent: this.pagesFirst,
      pagesResent: this.pagesResent, parityPages: this.parityPages, pagesChecked: this.pagesChecked, seconds: (Date.now() - this.started) / 1000, skipped: this.skipped,
      changed: this.changed, stats, usage: usageNow(), quit: this.quit, session: this.session.toString(16).padStart(8, '0'),
      pageSize: this.o.pageSize, started: this.started, dryRun: this.o.sync.dryRun, segments: this.segs.size,
      rate: this.rc ? { adaptive: true, history: this.rc.history, max: this.o.maxRateBps } : { adaptive: false, history: [this.o.rateBps], max: this.o.rateBps },
    };
  }
}

