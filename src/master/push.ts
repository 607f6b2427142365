// multicaster: the master side of one push. Starts a catcher on every target
// (targets.ts), scans the source into manifest segments while they start
// (segments.ts), multicasts each segment and collects each target's needs,
// then runs a window of per-file flows over the native page loop (sender.ts)
// until every target has every file it needs, or has been dropped, or has
// failed that file; then the targets finish (hardlinks, --delete, directory
// times) and report. A target set aside as slow catches up alone at the end.
import BitSet from 'bitset';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { LoopEvent, NativePageLoop, native, openPageLoop } from '../native';
import { Logger } from '../operator/log';
import { NetOptions, datagramBits, wireOverhead } from '../options';
import { Filter } from '../wire/filter';
import { Selection, entryOf } from '../wire/manifest';
import { display } from '../wire/paths';
import { CatcherLine, SESSION_VERSION, SessionParams, SyncParams, earlyStatMs, usageNow } from '../wire/session';
import { MasterSigner } from '../wire/signing';
import { dispatch } from './events';
import { RateControl, trainStart } from './rate';
import { Segments } from './segments';
import { Sender, feature } from './sender';
import { openRoot } from './source';
import { Progress, PushReport } from './summary';
import { Target, Targets } from './targets';
import { Window } from './window';
import { FailureCode, UserError, injectedFault } from '../errors';
import { cachedRate, rateKey, saveRate } from './ratecache';
import { Msg } from '../wire/protocol';
import { TRAIN_LEN, TRAIN_WAIT_MS } from '../wire/train';
import { nowMs } from '../clock';

/**
 * How long the push waits on a target that gets the multicast but none of
 * whose answers by UDP came before it asks for them over the channel
 * (answersCheck); a third of -w where that is less.
 */
const ANSWERS_WAIT_MS = 2000;
/** A gap between two ticks (every 10 ms) longer than this is this process not running (stopped, suspended): see resumed(). */
const PAUSED_MS = 1000;

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

/**
 * The window as the master's descriptors allow: one per file in flight,
 * beside its own (64) and the targets' channels (three pipes each through
 * the remote shell, a connection each to daemons); the soft limit is raised
 * to the hard one first. Too few for the targets themselves is bad input,
 * said before anything starts.
 */
export function fdWindow(o: Pick<PushOptions, 'window' | 'targets' | 'daemon'>, fds = native.raiseFdLimit()): number {
  if (fds < 0) return o.window;
  const channels = 64 + (o.daemon ? 1 : 3) * o.targets.length;
  const room = fds - channels;
  if (room < 8) {
    throw new UserError(`${o.targets.length} targets need about ${channels + 8} open files on the master (${o.daemon ? 'a connection' : 'three pipes'} each), ` +
      `and ulimit -n allows ${fds} here (hard limit included): raise it (ulimit -n ${2 * (channels + 8)} as root, LimitNOFILE= in a unit), or push to fewer targets at a time`);
  }
  return Math.min(o.window, room);
}

/** Rate reports: every 50 ms from each of a few targets, every 5 ms x N with more (1 s at 200): at most 200 a second in all once each target's first two seconds (every 50 ms, catcher.ts) are over. */
const statMsFor = (targets: number): number => Math.max(50, Math.min(1000, 5 * targets));

export class Push {
  private loop!: NativePageLoop;
  private readonly targets: Targets;
  private segments!: Segments;
  private sender!: Sender;
  private window!: Window;
  private readonly key = crypto.randomBytes(32);
  private readonly signer = new MasterSigner(); // signs what targets commit by (signing.ts)
  private readonly session = crypto.randomBytes(4).readUInt32BE(0);
  // launch: catchers starting (the scan runs meanwhile); data: manifest segments, plans and file
  // data interleaved, while the scan goes on; finish: results; done
  private phase: 'launch' | 'data' | 'finish' | 'done' = 'launch';
  private skipped: string[] = [];
  private keep: number[] = []; // directories listed without all their entries (some unreadable): --delete leaves them be
  private scanError: Error | null = null;
  private rc: RateControl | null = null;
  private readonly started = nowMs();
  private resolveDone!: () => void;
  private timer: NodeJS.Timeout | null = null;
  private silenceCheckedAt = 0;
  private tickedAt = 0;          // the last tick (every 10 ms, from run()): a longer gap is this process not running (resumed)
  private pausedMs = 0;          // the time it did not run, in all
  private rateFromCache = false;
  private rateFound = false; // the cached rate is where the last push to these targets found the bottleneck
  private looping = false; // multicast loopback turned on for a target on this host
  private readonly places = new Map<string, Target>(); // the targets by machine and directory (their ready lines' place)
  private answersWarned = false;
  // the probe train (wire/train.ts): when it went, the targets it went to, their estimates; low: what the rate took of them
  private train: { at: number; to: number[]; est: Map<number, number>; done: boolean; low: number | null } | null = null;
  private interrupted: string | null = null; // the signal that interrupted the push

  constructor(private readonly o: PushOptions, private readonly log: Logger) {
    this.targets = new Targets(log);
  }

  get sessionId(): string { return this.session.toString(16).padStart(8, '0'); }

  async run(): Promise<PushReport> {
    let masterAddr: string;
    try {
      masterAddr = native.multicastSource(this.o.family, this.o.group, this.o.port, this.o.ifname);
    } catch (e) {
      throw new UserError(`${(e as Error).message}: name the interface with -I`);
    }
    const window = fdWindow(this.o);
    const srcFd = openRoot(this.o.src);
    const statMs = statMsFor(this.o.targets.length);
    const rateKeyed = rateKey(this.o.group, this.o.ifname, this.o.targets);
    // the remote shells first: the catchers start while the master opens its
    // socket. Nothing below waits, so no line or exit of a target comes
    // before start() hands them their sessions; a failure ends the shells.
    this.targets.launch({ hosts: this.o.targets, rsh: this.o.rsh, remotePath: this.o.remotePath, daemon: this.o.daemon },
      { line: (t, l) => this.onLine(t, l), exit: (t) => this.onExit(t) });
    try {
      this.prepare(window, srcFd, statMs, rateKeyed);
    } catch (e) {
      this.targets.abandon();
      fs.closeSync(srcFd);
      throw e;
    }
    const done = new Promise<void>((r) => { this.resolveDone = r; });
    this.targets.start((idx, host) => this.header(idx, host, masterAddr, statMs));
    this.tickedAt = nowMs();
    this.timer = setInterval(() => this.tick(), 10);
    this.segments.pump();
    await done;
    if (this.timer) clearInterval(this.timer);
    const stats = this.loop.stats();
    this.loop.stop();
    this.segments.stop();
    fs.closeSync(srcFd);
    if (this.scanError) throw this.scanError;
    const settled = this.rc?.settled();
    if (settled) saveRate(rateKeyed, settled);
    return this.report(stats);
  }

  /** The rate control, the socket loop, the scan, the sender and the window of files. */
  private prepare(window: number, srcFd: number, statMs: number, rateKeyed: string): void {
    if (this.o.adaptive) {
      // where the last push to these targets settled, if it was kept; the rate is found anew from there
      const cached = cachedRate(rateKeyed);
      this.rateFromCache = cached !== null;
      this.rateFound = cached?.found === true;
      this.rc = new RateControl({
        start: Math.min(cached?.bps ?? this.o.rateBps, this.o.maxRateBps), found: cached?.found, max: this.o.maxRateBps, min: Math.min(1e6, this.o.maxRateBps),
        // a round: about twenty targets' reports (a report interval with few targets, 100 ms with many)
        roundMs: Math.max(50, Math.round(statMs * Math.min(1, 20 / this.o.targets.length))), reportMs: statMs, earlyMs: earlyStatMs(statMs),
        datagramBits: datagramBits(this.o.pageSize, this.o.family),
      });
    }
    this.loop = openPageLoop({
      family: this.o.family, group: this.o.group, port: this.o.port, bindPort: this.o.port - 1 || 0,
      ifname: this.o.ifname, ttl: this.o.ttl, loopback: this.o.loopback, join: false, key: this.key,
      sender: 0, pageSize: this.o.pageSize, rateBps: this.rc ? this.rc.rate() : this.o.rateBps,
      wireOverhead: wireOverhead(this.o.family), rcvbuf: 16 << 20, sndbuf: 8 << 20, encrypt: this.o.encrypt,
      gso: feature('GSO'), boost: feature('BOOST'),
    }, (evs) => this.onEvents(evs));
    // the scan streams: segments of the manifest go out (and files they list
    // flow) while the rest of the tree is still being read
    this.segments = new Segments(this.o.src, { filters: Filter.of(this.o.sync.filters), select: this.o.select, checksum: this.o.sync.checksum }, {
      segment: () => this.step(),
      done: (totals) => {
        this.skipped = totals.skipped;
        this.keep = totals.keep;
        for (const sk of totals.skipped) this.log.warn(`skipping special file ${sk}`);
        for (const u of totals.unreadable) this.log.error(`cannot read ${u.path}: ${u.error} (not sent)`, { path: u.path });
        this.sender.unreadable.push(...totals.unreadable);
        this.log.debug(`manifest: ${this.segments.entries.length} entries in ${this.segments.segs.size} segments`);
        this.step();
      },
      failed: (e) => this.abortRun(e),
    });
    this.sender = new Sender(this.loop, this.log, { ...this.o, window }, this.targets, this.segments, this.signer, this.rc, {
      segmentEnded: (k, failed) => {
        this.segments.segs.get(k)!.endedAt = nowMs();
        this.segments.segs.get(k)!.fd = -1;
        for (const [t, why] of failed) if (this.targets.live(t)) this.failTarget(t, 'failed', `manifest not received: ${why}`, 'FAILED');
      },
      step: () => this.step(),
    }, () => this.window.nothingLeftToOpen());
    this.window = new Window(this.sender, this.targets, this.segments, srcFd, this.o.pageSize, this.log);
  }

  private header(idx: number, host: string, master: string, statMs: number): SessionParams {
    const o = this.o;
    return {
      v: SESSION_VERSION, session: this.session, key: this.key.toString('hex'), sender: idx + 1, host,
      family: o.family, group: o.group, port: o.port, ttl: o.ttl, loopback: o.loopback,
      pageSize: o.pageSize, dst: o.dst.toString('base64'), removeFirst: o.removeFirst, verbose: o.verbose, encrypt: o.encrypt,
      sync: o.sync, statMs, master, masterPort: this.loop.localPort(), signKey: this.signer.publicKey,
    };
  }

  /** The scan failed (not for an unreadable entry: those it counts and goes on): end every channel, then run() throws. */
  private abortRun(e: Error): void {
    this.scanError = e;
    this.end(10_000);
  }

  /** End every channel now; the run is over once the catchers have exited (or were killed after ms). */
  private end(ms: number): void {
    this.phase = 'done';
    this.targets.closeAll();
    void this.targets.waitExits(ms).then(() => this.resolveDone());
  }

  /**
   * SIGINT, SIGTERM or SIGHUP: every flow is aborted (the targets drop their
   * temp files: no partial file reaches a final name), the targets not
   * finished yet are marked interrupted and their catchers told to stop, and
   * run() returns the report of what was done. No --delete or directory
   * metadata runs on a target that had not finished. False if the run was
   * already over.
   */
  interrupt(signal: string): boolean {
    if (this.interrupted || !this.sender) return false;
    this.interrupted = signal;
    for (const t of this.targets.list) {
      if (t.state !== 'finished' && this.targets.live(t)) this.targets.fail(t, 'interrupted', `interrupted by ${signal}`, 'INTERRUPTED');
    }
    if (this.phase === 'done') return false;
    this.log.error(`interrupted by ${signal}: stopping the catchers`);
    this.sender.quitAll();
    this.window.clear();
    this.end(3000);
    return true;
  }

  // ---- the targets' channels ----

  private onLine(t: Target, l: CatcherLine): void {
    switch (l.t) {
      case 'ready':
        if (t.state === 'launching') this.targets.setState(t, 'ready');
        if (typeof l.router === 'string' && net.isIP(l.router)) t.router = l.router;
        if (typeof l.place === 'string' && t.state === 'ready') {
          // two names in -m for one machine and directory: two catchers writing one tree race each other
          // (one's --delete takes the other's temp files, its backups overwrite the other's): pushed there once
          const first = this.places.get(l.place);
          if (first === undefined) this.places.set(l.place, t);
          else if (first !== t) {
            this.failTarget(t, 'failed', `the same machine and destination directory as ${first.host} (two names for one host in -m?): pushed there once, as ${first.host}`, 'REFUSED');
            break;
          }
        }
        // a target on this host gets the group's datagrams only looped back (options.ts isOwnAddress)
        if (l.here === true && !this.o.loopback && !this.looping) {
          this.looping = this.loop.setLoopback(true);
          this.log.debug(`${t.host} runs on this machine: multicast loopback on`);
        }
        // the window holds to what every target can hold open (descriptors)
        if (typeof l.files === 'number' && Number.isInteger(l.files) && l.files >= 1) this.sender.limitWindow(l.files);
        break;
      case 'needs': {
        // one per manifest segment; the line may overtake the multicast DONE of the segment
        const objs = this.segments.needs(t.idx, l);
        if (objs === null) break;
        if (objs === 'bad') { this.failTarget(t, 'failed', 'bad needs report', 'FAILED'); break; }
        t.needs ??= new BitSet();
        for (const obj of objs) t.needs!.set(obj, 1);
        t.remaining += objs.length;
        t.local = l.local;
        t.multicastSeen = true; // (the segment came by multicast)
        if (t.state === 'ready') this.targets.setState(t, 'active');
        this.log.debug('needs', { host: t.host, segment: l.seg, files: objs.length });
        break;
      }
      case 'log':
        this.targets.relayLog(t, l);
        break;
      case 'train':
        // (a catcher's word: numbers in range, or nothing; the lowest of them only ever starts the rate)
        if (this.train && !this.train.done && this.train.to.includes(t.idx) && typeof l.bps === 'number' && Number.isFinite(l.bps) && l.bps >= 0
          && Number.isInteger(l.n) && l.n >= 0 && l.n <= TRAIN_LEN) {
          this.train.est.set(t.idx, l.bps);
          if (l.n > 0) t.multicastSeen = true;
          this.log.debug('probe train', { host: t.host, mbps: +(l.bps / 1e6).toFixed(1), datagrams: l.n });
          this.trainCheck(nowMs());
        }
        break;
      case 'fatal':
        this.failTarget(t, 'failed', l.msg, t.state === 'launching' ? 'REFUSED' : 'FAILED');
        break;
      case 'heard':
        t.multicastSeen = true;
        break;
      case 'answer': {
        // a control datagram over the channel (answersCheck): as if by UDP, from this target's sender id alone
        if (!t.answersAsked || !Number.isInteger(l.type) || !Number.isInteger(l.object) || !Number.isInteger(l.index)) break;
        if (l.type < 0 || l.type > 255 || l.object < 0 || l.object > 0xffffffff || l.index < 0 || l.index > 0xffffffff) break;
        if (l.p !== undefined && (typeof l.p !== 'string' || l.p.length > 90_000)) break;
        const now = nowMs();
        t.answersByChannel++;
        dispatch([{ kind: 'control', type: l.type, sender: t.idx + 1, object: l.object, index: l.index, err: 0, rxNs: native.monoNs(),
          payload: l.p ? Buffer.from(l.p, 'base64') : undefined }], this.sender, now);
        this.sender.batchEnded(now);
        break;
      }
      case 'itemize':
        if (Array.isArray(l.lines)) for (const x of l.lines) if (typeof x === 'string') t.items.push(x);
        break;
      case 'result':
        t.result = l;
        t.local = l.local;
        if (t.state === 'finishing') { this.targets.setState(t, 'finished'); t.remote.close(); }
        break;
    }
    this.step();
  }

  private onExit(t: Target, late = false): void {
    // a remote shell killed by the terminal's SIGINT or SIGHUP (sent to the whole process group, mrsync
    // included): mrsync's own handler follows within a moment and counts the target as interrupted
    const sig = t.remote.exitSignal;
    if (!late && !this.interrupted && (sig === 'SIGINT' || sig === 'SIGHUP')) {
      setTimeout(() => this.onExit(t, true), 300);
      return;
    }
    if (t.state !== 'finished' && this.targets.live(t)) {
      const launching = t.state === 'launching';
      this.failTarget(t, launching ? 'failed' : 'dropped', t.remote.exitReason(launching ? 'remote shell failed' : 'catcher exited early'),
        launching ? (t.remote.heard ? 'REFUSED' : 'UNREACHABLE') : 'EXITED');
    }
    this.step();
  }

  private failTarget(t: Target, state: 'failed' | 'dropped', why: string, code: FailureCode): void {
    if (!this.targets.fail(t, state, why, code)) return;
    this.rc?.forget(t.idx);
    this.sender.dropTarget(t, why, nowMs());
    if (state === 'dropped' && this.o.quitOnDrop && !this.sender.quit) {
      this.log.error(`quitting at the first dropped target (-q)`);
      this.sender.quitAll();
      this.window.clear();
    }
  }

  /**
   * A target far behind the others (its link much slower): its files are
   * deferred, the others go on at their pace, and it catches up alone after
   * them (step: catch-up).
   */
  private setAside(t: Target, now: number): void {
    if (!this.targets.live(t) || t.slow || this.sender.catchup) return;
    t.slow = true;
    t.wasSlow = true;
    this.log.warn(`much slower than the others: set aside, catches up after them`, { host: t.host });
    this.sender.setAside(t, now);
  }

  // ---- the rate's probe train (wire/train.ts) ----

  /**
   * Every target ready, nothing sent yet: the train goes to all of them at
   * once, unpaced, unless the rate starts where the last push to these
   * targets found the bottleneck (--rate: no rate to find).
   */
  private sendTrain(now: number): void {
    const to = this.targets.list.filter((t) => t.state === 'ready').map((t) => t.idx);
    if (!this.rc || this.rateFound || !to.length) return;
    this.train = { at: now, to, est: new Map(), done: false, low: null };
    const page = Buffer.alloc(this.o.pageSize);
    for (let i = 0; i < TRAIN_LEN; i++) this.loop.sendControl(Msg.Train, 0, i, page, false);
  }

  /** Once every target it went to has answered (or left), or TRAIN_WAIT_MS on: the rate starts from what they said. */
  private trainCheck(now: number): void {
    const tr = this.train;
    if (!tr || tr.done) return;
    const waiting = tr.to.some((i) => !tr.est.has(i) && this.targets.live(this.targets.list[i]));
    if (waiting && now - tr.at < TRAIN_WAIT_MS) return;
    tr.done = true;
    const { low, slow } = trainStart(tr.est);
    tr.low = low;
    if (low === null) return;
    const r = this.rc!.probed(low, now);
    this.log.debug(`probe train: ${(low / 1e6).toFixed(1)} Mbit/s from ${tr.est.size} targets`);
    for (const i of slow) this.log.debug('probe train: far below the others', { host: this.targets.list[i].host });
    if (r !== null) { this.loop.setRate(r); this.log.debug(`rate ${(r / 1e6).toFixed(1)} Mbit/s`); }
  }

  // ---- the run, phase by phase ----

  private step(): void {
    const now = nowMs();
    if (this.phase === 'launch') {
      if (this.targets.list.some((t) => t.state === 'launching')) return;
      this.phase = 'data';
      for (const t of this.targets.list) if (t.state === 'ready') t.lastHeard = now;
      this.sendTrain(now);
    }
    if (this.phase === 'data') {
      if (!this.dataStep()) return;
      this.phase = 'finish';
      for (const t of this.targets.list) {
        if (t.state !== 'active' && t.state !== 'ready') continue;
        this.targets.setState(t, 'finishing');
        t.lastHeard = now;
        this.targets.send(t, this.keep.length ? { t: 'finish', keep: this.keep } : { t: 'finish' });
      }
    }
    if (this.phase === 'finish') {
      if (this.targets.list.some((t) => t.state === 'finishing')) return;
      this.phase = 'done';
      this.targets.closeAll();
      void this.targets.waitExits().then(() => this.resolveDone());
    }
  }

  /** Segments out, plans in, files through the window, the catch-up; true when all of it is over. */
  private dataStep(): boolean {
    // manifest segments go out as soon as they are made, ahead of file data
    while (this.segments.waiting.length) {
      const k = this.segments.waiting.shift()!;
      const sg = this.segments.segs.get(k)!;
      const planners = this.targets.list.filter((t) => t.state === 'ready' || t.state === 'active');
      this.segments.planning.set(k, new Set(planners.map((t) => t.idx)));
      // what the segment holds, over each target's own channel: no other holder of the session key can say otherwise
      const line = { t: 'segment' as const, k, size: sg.size, hash: sg.hash.toString('hex') };
      for (const t of planners) this.targets.send(t, line);
      this.sender.sendSegment(k, planners.map((t) => t.idx + 1));
    }
    // a segment every live target has planned: its files join the queue (-n: nothing is sent)
    const planned = this.segments.takePlanned((idx) => this.targets.live(this.targets.list[idx]));
    if (!this.o.sync.dryRun) this.window.plan(planned);
    this.window.fill();
    if (!this.window.nothingLeftToOpen() || this.sender.flows.size) return false;
    const behind = this.targets.list.filter((t) => this.targets.live(t) && t.deferred.length);
    if (behind.length && !this.sender.catchup) {
      this.rc?.clearSlow();
      this.window.startCatchup(behind);
      this.window.fill();
      return false;
    }
    return true;
  }

  private tick(): void {
    const now = nowMs();
    if (now - this.tickedAt > PAUSED_MS) this.resumed(now, now - this.tickedAt);
    this.tickedAt = now;
    if (this.rc) {
      this.trainCheck(now);
      const r = this.rc.tick(now, () => { const st = this.loop.stats(); return { datagrams: st.dataSent, wireBytes: st.dataWire }; });
      if (r !== null) { this.loop.setRate(r); this.log.debug(`rate ${(r / 1e6).toFixed(1)} Mbit/s`); }
      for (const idx of this.rc.takeSlow()) this.setAside(this.targets.list[idx], now);
    }
    // silence is counted in seconds (-w): looked for every 100 ms, not at every
    // 10 ms tick (hundreds of targets times the files in flight)
    if (now - this.silenceCheckedAt >= 100) {
      this.silenceCheckedAt = now;
      this.checkSilence(now);
    }
    this.sender.tick(now);
    this.step();
  }

  /**
   * This process did not run for gapMs (stopped: ^Z in its terminal, SIGSTOP;
   * its machine suspended or its VM paused): that time is no target's
   * silence. Each starts its -w (and a launching one its start budget) anew
   * from now; at 55274d0 and before, a master stopped for longer than -w
   * dropped every target as silent as it resumed.
   */
  private resumed(now: number, gapMs: number): void {
    this.pausedMs += gapMs;
    for (const t of this.targets.list) {
      t.lastHeard = Math.max(t.lastHeard, now);
      if (t.state === 'launching') t.stateSince += gapMs;
    }
    this.log.info(`this process did not run for ${(gapMs / 1000).toFixed(1)} s (stopped, or its machine suspended): the targets' -w starts again`);
  }

  /**
   * A target that gets the multicast (it said so over its channel) but none
   * of whose answers by UDP came, while the push waits on one: this machine's
   * firewall drops its answer port (a common default). The target is told to
   * send them over its channel (slower, and a line on the remote shell each),
   * and the operator to open the port.
   */
  private answersCheck(now: number): void {
    const afterMs = Math.min(ANSWERS_WAIT_MS, this.o.waitSec * 1000 / 3);
    let asked = 0;
    for (const [t] of this.sender.awaited(now, afterMs)) {
      if (t.answersAsked || t.feedback > 0 || !t.multicastSeen || !this.targets.live(t)) continue;
      t.answersAsked = true;
      this.targets.send(t, { t: 'answers', via: 'channel' });
      this.log.debug(`${t.host}: none of its answers reached UDP port ${this.loop.localPort()} here: they come over its channel`);
      asked++;
    }
    if (asked && !this.answersWarned) {
      this.answersWarned = true;
      this.log.warn(`the targets' answers do not reach UDP port ${this.loop.localPort()} here (this machine's firewall?): ` +
        `they come over ${this.o.daemon ? 'the daemons\' TLS connections' : 'the remote shells'} instead, slower; open that port (-P minus 1) for a full-speed push`);
    }
  }

  /** Drop the targets silent for longer than -w: launching, planning a segment, awaited on a file, finishing. */
  private checkSilence(now: number): void {
    this.answersCheck(now);
    const waitMs = this.o.waitSec * 1000;
    for (const [t, why, code] of this.targets.silent(now, waitMs)) this.failTarget(t, t.state === 'launching' ? 'failed' : 'dropped', why, code);
    // a target that received a segment but does not report its plan
    for (const [k, waiting] of this.segments.planning) {
      const ended = this.segments.segs.get(k)!.endedAt;
      if (!ended) continue;
      for (const idx of waiting) {
        const t = this.targets.list[idx];
        if (this.targets.live(t) && now - Math.max(t.lastHeard, ended) > waitMs) this.failTarget(t, 'dropped', this.silentWhy(t, `silent for ${this.o.waitSec} s while planning`), 'SILENT');
      }
    }
    for (const [t, since] of [...this.sender.awaited(now, waitMs)]) {
      if (this.targets.live(t) && now - Math.max(t.lastHeard, since) > waitMs) this.failTarget(t, 'dropped', this.silentWhy(t, `silent for ${this.o.waitSec} s`), 'SILENT');
    }
  }

  /**
   * Why t is silent: base, and which way the datagrams stop where that shows
   * (the hint in operator/groups.ts): a target that answered nothing by UDP
   * but said over its channel that the multicast reaches it (the master's
   * firewall drops the answers), or one the multicast never reached; or one
   * that answered and then stopped (its machine or its catcher stalled, or
   * its link failed: no firewall blocks a port half way through a push).
   */
  private silentWhy(t: Target, base: string): string {
    if (t.feedback > 0) return `${base} after it had answered`;
    if (t.multicastSeen) return `${base}: the multicast reaches it (its catcher said so), none of its answers reached UDP port ${this.loop.localPort()} here`;
    const routed = t.router === null ? ''
      : ` (it reaches this machine through a router, ${t.router}: ${this.o.ttl <= 1 ? `a TTL of ${this.o.ttl} (-T) stops the multicast there` : 'the multicast has to be routed there'})`;
    return `${base}: none of the multicast reached it${routed}`;
  }

  private onEvents(evs: LoopEvent[]): void {
    injectedFault('master');
    const now = nowMs();
    dispatch(evs, this.sender, now);
    this.sender.batchEnded(now);
  }

  // ---- progress and report ----

  /** What a progress line shows; cheap enough to call a few times a second. */
  snapshot(): Progress {
    const settled = (this.phase === 'data' && this.segments.settled) || this.phase === 'finish' || this.phase === 'done';
    const st = this.loop.stats();
    const s = this.sender;
    return {
      phase: this.phase, seconds: (nowMs() - this.started) / 1000,
      bytesTotal: this.window.bytesPlanned, bytesSent: Math.min(this.window.bytesPlanned, st.dataSent * this.o.pageSize),
      filesTotal: this.window.filesPlanned, filesDone: s.filesDone,
      targets: this.targets.list.length, ...this.targets.counts(settled),
    };
  }

  private report(stats: ReturnType<NativePageLoop['stats']>): PushReport {
    const entries = this.segments.entries;
    const s = this.sender;
    return {
      targets: this.targets.list.map((t) => this.targets.report(t, (i) => display(entries.path(i)), entries.length, this.o.sync.dryRun,
        (obj) => entries.size(entryOf(obj)), (obj) => s.unreadableObjs.has(obj))),
      entries: entries.length, files: this.window.files, bytes: this.window.bytes, packed: { files: s.filesPacked, packs: s.packsSent }, pagesSent: this.interrupted ? Math.min(s.pagesFirst, stats.dataSent) : s.pagesFirst, // queued ones did not all go out
      pagesResent: s.pagesResent, parityPages: s.parityPages, pagesChecked: s.pagesChecked, seconds: (nowMs() - this.started) / 1000, ...(this.pausedMs ? { pausedSeconds: this.pausedMs / 1000 } : {}),
      skipped: this.skipped, changed: s.changed, unreadable: s.unreadable, interrupted: this.interrupted, stats, usage: usageNow(), quit: s.quit, session: this.sessionId,
      pageSize: this.o.pageSize, started: this.started, dryRun: this.o.sync.dryRun, segments: this.segments.segs.size,
      rate: this.rc ? { adaptive: true, history: this.rc.history, max: this.o.maxRateBps, cached: this.rateFromCache, ...(this.train?.low ? { probe: this.train.low, probed: this.train.est.size } : {}) }
        : { adaptive: false, history: [this.o.rateBps], max: this.o.rateBps },
    };
  }
}
