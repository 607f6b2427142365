// The sending side of a push: the files in flight (each a FileFlow, flow.ts;
// window.ts opens them), the native send jobs that carry their pages, the
// signed hashes (sums.ts) and checkpoints (checkpoints.ts), and what each
// target got. It runs the flows' actions and takes the targets' answers
// (events.ts) back to the flows.
import fs from 'node:fs';
import os from 'node:os';
import { NativePageLoop, native } from '../native';
import { Logger } from '../operator/log';
import { datagramBits } from '../options';
import { SEG_BASE, isSegment } from '../wire/manifest';
import { PACK_BASE } from '../wire/pack';
import { CHECK_MIN_PAGES, DoneCode, DoneInfo, Msg, batchRoom, decodeMissing, encodeAbort, encodeBatch, withAwaited } from '../wire/protocol';
import { pagesOf, runPages } from '../wire/runs';
import { display } from '../wire/paths';
import { MasterSigner } from '../wire/signing';
import { Checkpoint, Checkpoints } from './checkpoints';
import { MasterEvents } from './events';
import { AnswerTime, FileFlow, FlowAction, FlowTiming } from './flow';
import { RateControl } from './rate';
import { Segments } from './segments';
import { SumsOut } from './sums';
import { FileMark, markOf, sameMark } from './source';
import { Target, Targets } from './targets';
import { Unreadable } from './scan';
import { FAILURE_CODES, FailureCode, errnoName } from '../errors';
import { nowMs } from '../clock';

const TIMING: FlowTiming = { retryMs: 40, maxRetryMs: 1000, sitOutRounds: 50 };

/**
 * The window's other bound: the bytes of the files whose first pass is not
 * out yet (one such file of any size is always let in), as line time at the
 * rate now: WINDOW_SECONDS of it, WINDOW_BYTES at most, WINDOW_MIN at least.
 * Many small files overlap their handshakes and answers (--window of them in
 * flight); files of tens of KB keep the first passes queued to about what 128
 * of them were: more only delays every repair behind them (10 targets, 200
 * Mbit/s, 1% loss, the tree: 0.535 with 1,024 files of it in flight,
 * 0.79-0.81 with 16 MiB). In bytes alone, 16 MiB was 27 s of line time at
 * 5 Mbit/s: every repair waited for nearly all of a 20 MB push's first passes,
 * and the files' last rounds piled up at its end (200 targets: 7.5 s of it).
 */
const WINDOW_BYTES = 16 << 20;
const WINDOW_SECONDS = WINDOW_BYTES / (200e6 / 8); // what 16 MiB is at 200 Mbit/s: 0.67 s
const WINDOW_MIN = 256 << 10;

/** The bytes of first passes the window lets queue at bps: WINDOW_SECONDS of line time, between WINDOW_MIN and WINDOW_BYTES. */
export function firstPassBytes(bps: number): number {
  return Math.max(WINDOW_MIN, Math.min(WINDOW_BYTES, (bps / 8) * WINDOW_SECONDS));
}

/**
 * Data-path features on by default; MRSYNC_GSO=0 (UDP GSO), MRSYNC_BOOST=0
 * (the sending thread's priority) and MRSYNC_CHECK=0 (checkpoints) turn one
 * off, to measure what it brings (bench/compare.sh).
 */
export function feature(name: 'GSO' | 'BOOST' | 'CHECK'): boolean {
  return process.env[`MRSYNC_${name}`] !== '0';
}

/** Whether a flow's first pass is hashed and its hash signed in a Sums (a file's, a pack's; not a segment's). */
const hashed = (s: Pick<Sending, 'entry' | 'pack'>): boolean => s.entry >= 0 || s.pack !== undefined;

function parityPages(p: Uint32Array | undefined): number {
  let n = 0;
  if (p) for (let i = 2; i < p.length; i += 3) n += p[i];
  return n;
}

/** A file of a pack: its object and size, and the targets (ids) that need it. */
export interface PackFile { object: number; entry: number; size: number; needers: number[] }

/** A pack of small files in flight (pack.ts): its files, and what targets said failed of them (target -> file -> why). */
export interface PackSending { files: PackFile[]; failed: Map<number, Map<number, { error: string; code: FailureCode }>> }

/** A file (a pack of small files, or a manifest segment) in flight. */
export interface Sending {
  flow: FileFlow;
  fd: number;              // the file's pages are read from (-1 for a pack: see mem)
  mem?: Buffer;            // a pack's bytes (held in memory, not in a file)
  size: number;
  before?: FileMark;       // a file's mark when it was opened (a change during the send is told by it)
  entry: number;           // its manifest entry; -1 for a manifest segment or a pack
  pack?: PackSending;      // a pack's files
  openedAt: number;        // ms, first OPEN
  // a file's SHA-256, taken by the native sender as the first pass reads the
  // pages (the content the targets got): known when the pass is out, and sent
  // in a signed Sums before the first EOF
  hash: Buffer | null;
  jobsOut: number;         // native send jobs not yet reported: the fd stays open until they are
  ended: boolean;
  passing: boolean;        // a file's first pass not hashed yet (counted in Sender.firstPasses)
  lastOpenNs: number;      // monoNs of the OPEN sent, if it went once (0: none, or sent again)
  eofAt?: [number, number]; // the round of the EOF last sent and when (ms), if it went once (no re-send: its answers time it)
  checks?: number;         // checkpoints asked so far (checkpoints.ts)
  check?: Checkpoint | null;
}

export interface SenderOptions { pageSize: number; window: number; parity: boolean; family: 4 | 6; rateBps: number }

/** The push's side of the sender: what it learns as files end. */
export interface SenderEvents {
  /** A manifest segment's multicast ended (outcomes: who has it). */
  segmentEnded(k: number, failed: Array<[Target, string]>): void;
  /** Each turn's end: the push looks at its phases. */
  step(): void;
}

export class Sender implements MasterEvents {
  readonly flows = new Map<number, Sending>();
  private jobs = new Map<number, Sending>(); // native send job -> the flow that queued it
  private nextJob = 1;
  private firstPasses = 0;                   // file flows whose first pass is not hashed yet
  private bytesPassing = 0;                  // their sizes
  private window: number;                    // files in flight at most: --window, and what the master and each target can hold open
  private readonly batches = new Map<string, { type: Msg.Open | Msg.Eof; awaited: Buffer; items: number[] }>(); // batch()
  private batchDue = false;
  private readonly eofAnswer = new AnswerTime(); // from an EOF sent once to a target's answer
  private readonly openAnswer = new AnswerTime(); // from an OPEN sent once to a target's ack
  private readonly sums: SumsOut;
  private readonly checks: Checkpoints<Sending>;
  private packs = 0;                         // packs made so far (their objects: PACK_BASE + k)
  private readonly packOf = new Map<number, Sending>(); // a file in a pack in flight -> the pack
  quit = false;
  catchup = false;                           // the set-aside targets' catch-up round: files done are not counted again
  // what was sent
  pagesFirst = 0; pagesResent = 0; parityPages = 0; filesDone = 0;
  filesPacked = 0;                           // files sent in packs, and the packs (not again in the catch-up)
  packsSent = 0;
  readonly changed: string[] = [];           // source files that changed while being sent
  readonly unreadable: Unreadable[] = [];    // source entries that could not be read (the scan's, and files at their open)
  readonly unreadableObjs = new Set<number>(); // the files of these (objects): no target is faulted for lacking them

  /** tail(): nothing is left to open (the flows in flight are the last): repair rounds may carry a margin. */
  constructor(private readonly loop: NativePageLoop, private readonly log: Logger, private readonly o: SenderOptions,
    private readonly targets: Targets, private readonly segs: Segments, private readonly signer: MasterSigner,
    private readonly rc: RateControl | null, private readonly ev: SenderEvents, private readonly tail: () => boolean) {
    this.sums = new SumsOut(loop, signer, o.pageSize);
    this.window = o.window; // bounded by the master's descriptors already (push.ts fdWindow)
    this.checks = new Checkpoints<Sending>(loop, log, (s, runs, parity, urgent, pass) => this.queueJob(s, runs, parity, urgent, pass),
      (pages, parity) => { this.pagesResent += pages; this.parityPages += parity; });
  }

  get pagesChecked(): number { return this.checks.pages; }
  get sumsSent(): number { return this.sums.sent; }

  /** The window has room for another file. */
  get room(): boolean {
    return !this.quit && this.flows.size < this.window && (this.firstPasses === 0 || this.bytesPassing < this.windowBytes());
  }

  /** The first passes' bound now, at the rate found (or fixed). */
  private windowBytes(): number {
    return firstPassBytes(this.rateNow());
  }

  /** The send rate now: the one found, or the fixed one. */
  private rateNow(): number {
    return this.rc ? this.rc.rate() : this.o.rateBps;
  }

  /** A target can receive at most files at once (its descriptors): the window holds to it. */
  limitWindow(files: number): void {
    if (files < this.window) {
      this.log.debug(`window: ${files} files (a target's descriptors)`);
      this.window = files;
    }
  }

  /** A manifest segment goes out like a file, to the targets that will plan it. */
  sendSegment(k: number, needers: number[]): void {
    const sg = this.segs.segs.get(k)!;
    this.startFlow(SEG_BASE + k, sg.fd, sg.size, needers, -1);
  }

  /** 0 while files are left to open; at the tail, the line time of one page at the current rate (ms). */
  private readonly tailPageMs = (): number => {
    if (!this.tail()) return 0;
    return (datagramBits(this.o.pageSize, this.o.family) * 1000) / this.rateNow();
  };

  /**
   * First re-send of an unanswered EOF: as for an OPEN, or the targets' usual
   * answer time to an EOF and four times its deviation, if longer (a target
   * answers an EOF once it has read the file's pages before it: on a busy
   * machine that takes longer than an OPEN's ack, and the EOF of 56% of the
   * files of a 2,000-file tree to five targets at 1 Gbit/s went again before
   * their answers came).
   */
  private readonly eofRetryMs = (): number => {
    return this.eofAnswer.timeout(this.openRetryMs(), TIMING.maxRetryMs);
  };

  /**
   * First re-send of an unanswered OPEN: 3x the targets' typical answer time,
   * or their usual answer and four deviations if longer (a busy target
   * answers late, now and then much later; a re-send too early makes every
   * target answer twice).
   */
  private openRetryMs(): number {
    return this.openAnswer.timeout(Math.min(500, Math.max(TIMING.retryMs, Math.round(3 * this.openAnswer.typical))), 500);
  }

  /** An answer to a flow's EOF round (Missing, Wait, Done): timed if that EOF went once (Karn). */
  private eofAnswered(s: Sending, sender: number, round: number, now: number): void {
    if (!s.eofAt || s.eofAt[0] !== round || now < s.eofAt[1] || !s.flow.isWaitingOn(sender)) return;
    this.eofAnswer.sample(now - s.eofAt[1]);
  }

  /**
   * A pack of small files (pack.ts), its bytes (header and contents) in
   * bytes: one flow to every target that needs any of them.
   */
  startPack(bytes: Buffer, files: PackFile[]): void {
    const obj = PACK_BASE + (this.packs++ % (SEG_BASE - PACK_BASE));
    const needers = new Set<number>();
    for (const f of files) for (const n of f.needers) needers.add(n);
    if (!this.catchup) { this.filesPacked += files.length; this.packsSent++; } // counted once, as the window counts files
    this.startFlow(obj, -1, bytes.length, [...needers], -1, undefined, { files, failed: new Map() }, bytes);
  }

  /** A flow for obj to the targets needers (ids), its pages read from fd (or mem); before: a file's stat when opened. */
  startFlow(obj: number, fd: number, size: number, needers: number[], entry: number, before?: FileMark, pack?: PackSending, mem?: Buffer): void {
    const now = nowMs();
    const flow = new FileFlow(obj, pagesOf(size, this.o.pageSize), needers, { ...TIMING, retryMs: this.openRetryMs(), eofRetryMs: this.eofRetryMs, parity: this.o.parity, tailPageMs: this.tailPageMs }, now);
    const s: Sending = { flow, fd, mem, size, entry, pack, before, openedAt: now, lastOpenNs: 0, jobsOut: 0, ended: false, passing: hashed({ entry, pack }), hash: null };
    this.flows.set(obj, s);
    if (pack) for (const f of pack.files) this.packOf.set(f.object, s);
    if (s.passing) { this.firstPasses++; this.bytesPassing += size; }
    this.exec(s, flow.start(now));
  }

  // ---- a flow's actions ----

  private exec(s: Sending, actions: FlowAction[]): void {
    const obj = s.flow.object;
    for (const a of actions) {
      switch (a.a) {
        case 'open':
          // an ack times the OPEN only if it went once (Karn): an ack of the first that comes just after a
          // re-send would read as a quick answer, and the next re-sends come sooner still
          s.lastOpenNs = a.again ? 0 : native.monoNs();
          if (a.again) this.log.debug('open again', { object: obj });
          // a pack's OPEN goes alone, with the pack's size (a target has no manifest entry to take it from)
          if (s.pack) this.loop.sendControl(Msg.Open, obj, s.size, withAwaited(s.flow.waitingOn(), this.targets.list.length, null), false);
          else this.batch(Msg.Open, obj, 0, s.flow.waitingOn());
          break;
        case 'pages': {
          if (!a.runs && s.flow.pages >= CHECK_MIN_PAGES && s.entry >= 0 && feature('CHECK')) {
            this.pagesFirst += s.flow.pages;
            this.checks.firstPass(s);
            break;
          }
          const n = a.runs ? runPages(a.runs) + parityPages(a.parity) : s.flow.pages;
          if (a.runs) this.pagesResent += n;
          else this.pagesFirst += n;
          this.parityPages += parityPages(a.parity);
          if (a.runs) this.log.debug('repair round', { object: obj, round: s.flow.round, pages: n, parity: parityPages(a.parity) });
          this.queueJob(s, a.runs, a.parity, false, !a.runs && hashed(s));
          break;
        }
        case 'eof':
          if (a.again) this.log.debug('eof again', { object: obj, round: a.round, waitingOn: s.flow.waitingOn().slice(0, 10).map((t) => this.targets.list[t - 1].host) });
          else this.log.debug('eof', { object: obj, round: a.round });
          s.eofAt = a.again ? undefined : [a.round, nowMs()];
          if (hashed(s) && !s.hash) { this.abortFlow(s, 'internal error: the first pass was not hashed', 'FAILED'); break; }
          if (!this.sums.holdEof(obj, a.round)) this.sendEof(s, a.round);
          break;
        case 'finished':
          this.endFlow(obj, s);
          break;
      }
    }
  }

  private sendEof(s: Sending, round: number): void {
    this.batch(Msg.Eof, s.flow.object, round, s.flow.waitingOn());
  }

  /**
   * An OPEN or EOF of obj for the targets awaited: it goes, with the others
   * of this turn that await the same targets, in one Opens or Eofs datagram
   * when the turn is over (alone, as an Open or Eof, if it has no company).
   */
  private batch(type: Msg.Open | Msg.Eof, obj: number, round: number, awaited: number[]): void {
    const a = withAwaited(awaited, this.targets.list.length, null);
    const key = `${type}:${a.toString('latin1')}`;
    let g = this.batches.get(key);
    if (!g) this.batches.set(key, g = { type, awaited: a, items: [] });
    if (type === Msg.Open) g.items.push(obj);
    else g.items.push(obj, round);
    if (this.batchDue) return;
    this.batchDue = true;
    queueMicrotask(() => this.flushBatches());
  }

  private flushBatches(): void {
    this.batchDue = false;
    for (const g of this.batches.values()) {
      const per = g.type === Msg.Open ? 1 : 2; // u32s per file
      // u32s to a datagram: one file's where no batch fits (too many targets), which then goes alone
      const room = Math.max(per, batchRoom(g.awaited.length, 4 * per) * per);
      for (let i = 0; i < g.items.length; i += room) {
        const part = g.items.slice(i, i + room);
        if (part.length === per) this.loop.sendControl(g.type, part[0], per === 2 ? part[1] : 0, g.awaited, false);
        else this.loop.sendControl(g.type === Msg.Open ? Msg.Opens : Msg.Eofs, 0, 0, encodeBatch(g.awaited, part), false);
      }
    }
    this.batches.clear();
  }

  /** Tell every target to drop what it has of obj (signed: no other target can make it do so). */
  private sendAbort(obj: number): void {
    this.flushBatches(); // an OPEN of this turn goes first: the Abort must not overtake it
    this.loop.sendControl(Msg.Abort, obj, 0, encodeAbort(obj, this.signer), false);
  }

  /** Give up on a file for every target still on it (they drop their temp files). */
  private abortFlow(s: Sending, why: string, code: FailureCode): void {
    this.sendAbort(s.flow.object);
    const now = nowMs();
    for (const t of [...s.flow.pending]) this.exec(s, s.flow.drop(t, why, now, code));
  }

  /**
   * A native send job for the flow; its fd stays open until the job is
   * reported. firstPass: a part of a file's first pass (its pages hashed as
   * they are read; see Sending.hash).
   */
  private queueJob(s: Sending, runs: Uint32Array | null, parity: Uint32Array | undefined, urgent: boolean, firstPass: boolean): number {
    const job = this.nextJob++;
    this.jobs.set(job, s);
    s.jobsOut++;
    this.loop.sendPages(job, s.flow.object, s.mem ?? s.fd, s.size, runs, parity, urgent, firstPass);
    return job;
  }

  private endFlow(obj: number, s: Sending): void {
    if (!this.flows.has(obj)) return;
    this.flows.delete(obj);
    this.passed(s);
    this.sums.forget(obj);
    if (isSegment(obj)) {
      this.release(s);
      const failed: Array<[Target, string]> = [];
      for (const [t, out] of s.flow.outcomes) if (!out.ok) failed.push([this.targets.list[t - 1], out.message]);
      this.ev.segmentEnded(obj - SEG_BASE, failed);
      return;
    }
    if (s.pack) {
      this.endPack(s, s.pack);
      this.release(s);
      return;
    }
    let shown: string | undefined; // the path as a message shows it: made once, and only for a message
    const path = (): string => (shown ??= display(this.segs.entries.path(s.entry)));
    for (const [t, out] of s.flow.outcomes) {
      const tg = this.targets.list[t - 1];
      if (out.deferred) { tg.deferred.push(obj); continue; } // set aside as slow: sent again in the catch-up
      tg.remaining--;
      if (out.ok) {
        tg.filesOk++;
        tg.bytesOk += s.size;
        if (this.log.debugging) this.log.debug('file delivered', { host: tg.host, path: path(), bytes: s.size });
      } else {
        tg.failures.set(obj, { error: out.message, code: out.code });
        if (this.targets.live(tg)) this.log.warn(`${path()}: ${out.message}`, { host: tg.host, path: path() });
      }
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
   * A pack's flow ended: each of its files ends for each target that needs
   * it as the pack did for that target, unless the target said that file
   * failed (its Done, a datagram of its own; were it lost, the target's
   * result names the file).
   */
  private endPack(s: Sending, pack: PackSending): void {
    for (const f of pack.files) {
      if (this.packOf.get(f.object) === s) this.packOf.delete(f.object);
      let shown: string | undefined;
      const path = (): string => (shown ??= display(this.segs.entries.path(f.entry)));
      for (const n of f.needers) {
        const out = s.flow.outcomes.get(n);
        if (!out) continue; // -q: the flow was cut short
        const tg = this.targets.list[n - 1];
        if (out.deferred) { tg.deferred.push(f.object); continue; }
        tg.remaining--;
        const failed = out.ok ? pack.failed.get(n)?.get(f.object) : { error: out.message, code: out.code };
        if (!failed) {
          tg.filesOk++;
          tg.bytesOk += f.size;
          if (this.log.debugging) this.log.debug('file delivered', { host: tg.host, path: path(), bytes: f.size });
        } else {
          tg.failures.set(f.object, failed);
          if (this.targets.live(tg)) this.log.warn(`${path()}: ${failed.error}`, { host: tg.host, path: path() });
        }
      }
      if (!this.catchup) this.filesDone++;
    }
    // a target set aside (its files go again in the catch-up, in other packs), sat out or failed may still hold
    // this pack half received, and nothing would ever end it there: told to drop it (a target that has it
    // committed ignores this)
    for (const out of s.flow.outcomes.values()) {
      if (out.ok) continue;
      this.sendAbort(s.flow.object);
      break;
    }
  }

  /**
   * Whether the source file moved since it was opened for sending: any write
   * or unlink moves ctime. An unlinked file keeps its content for our open
   * fd (the targets get the content read, of a file the source no longer has).
   */
  private changeOf(s: Sending): 'changed' | 'deleted' | null {
    if (!s.before || s.fd < 0) return null;
    const after = markOf(s.fd);
    if (!after || sameMark(after, s.before)) return null;
    return after.nlink === 0 ? 'deleted' : 'changed';
  }

  /** Close a finished flow's file, or let go of a pack's bytes, once no native send job can still read it (its number may be reused at once). */
  private release(s: Sending): void {
    s.ended = true;
    if (s.jobsOut > 0) return;
    if (s.fd >= 0) { fs.closeSync(s.fd); s.fd = -1; }
    s.mem = undefined;
  }

  /** A file's first pass is hashed, or its flow ended without: one first pass fewer to wait for. */
  private passed(s: Sending): void {
    if (!s.passing) return;
    s.passing = false;
    this.firstPasses--;
    this.bytesPassing -= s.size;
  }

  // ---- targets leaving, set aside, quitting ----

  /** t is out of the run: no flow waits for it any more. */
  dropTarget(t: Target, why: string, now: number): void {
    for (const [, s] of [...this.flows]) this.exec(s, s.flow.drop(t.idx + 1, why, now));
  }

  /** t is set aside as slow: its files are deferred to the catch-up. */
  setAside(t: Target, now: number): void {
    for (const [obj, s] of [...this.flows]) {
      if (isSegment(obj) || !s.flow.pending.has(t.idx + 1)) continue;
      this.exec(s, s.flow.setAside(t.idx + 1, now));
    }
  }

  /** -q at the first drop: every file in flight is aborted, nothing more is opened. */
  quitAll(): void {
    this.quit = true;
    for (const [obj, s] of [...this.flows]) {
      this.sendAbort(obj);
      this.endFlow(obj, s);
    }
  }

  /** Every 10 ms: checkpoints due, flows' re-sends, hashes that waited long enough. */
  tick(now: number): void {
    for (const s of [...this.flows.values()]) {
      if (!this.flows.has(s.flow.object)) continue;
      this.checks.due(s, now);
      if (this.flows.has(s.flow.object)) this.exec(s, s.flow.tick(now));
    }
    this.flushSums(now);
  }

  /** Targets a flow has waited on longer than waitMs: [target, since when]. */
  *awaited(now: number, waitMs: number): Generator<[Target, number]> {
    for (const [, s] of this.flows) {
      if (now - s.flow.phaseSince <= waitMs) continue;
      for (const tid of s.flow.waitingOn()) yield [this.targets.list[tid - 1], s.flow.phaseSince];
    }
  }

  private flushSums(now: number): void {
    this.sums.flush(now, this.firstPasses, (obj, round) => {
      const s = this.flows.get(obj);
      if (s && s.flow.phase === 'eof' && s.flow.round === round) this.sendEof(s, round);
    });
  }

  // ---- the native loop's events (events.ts) ----

  /** End of a batch of events. */
  batchEnded(now: number): void {
    this.flushSums(now);
    this.ev.step();
  }

  jobEnded(job: number, hash: Buffer | null, errno: number | null, now: number): void {
    const s = this.jobs.get(job);
    this.jobs.delete(job);
    if (!s) return;
    s.jobsOut--;
    const current = !s.ended && this.flows.get(s.flow.object) === s;
    if (s.ended) this.release(s);
    if (!current || errno !== null) {
      this.checks.jobEnded(s, job, false, now);
      if (current) {
        if (errno === os.constants.errno.ENODATA) this.abortFlow(s, 'source file shrank while being sent', 'SOURCE_CHANGED');
        else this.abortFlow(s, `source read error: ${errnoName(errno!)}`, 'SOURCE_UNREADABLE');
        if (s.entry >= 0) this.changed.push(display(this.segs.entries.path(s.entry)));
      }
      return;
    }
    if (hash) {
      // the hash of the pages as read: if the file was written meanwhile they may be half old, half new; that
      // hash must not let a target commit them
      if (this.changeOf(s) === 'changed') {
        this.checks.jobEnded(s, job, false, now);
        this.abortFlow(s, 'changed on the master while being sent, not committed', 'SOURCE_CHANGED');
        return;
      }
      s.hash = hash;
      this.passed(s);
      this.sums.queue(s.flow.object, hash, now);
    }
    this.checks.jobEnded(s, job, true, now);
    // the pass (its chunks and the checkpoints' repairs) is over when its last job is
    if (s.jobsOut === 0) {
      if (s.check) this.checks.finish(s);
      if (s.jobsOut === 0) this.exec(s, s.flow.onSent(now));
    }
  }

  heard(sender: number, now: number): boolean {
    const t = this.targets.bySender(sender);
    if (!t || !this.targets.live(t)) return false;
    t.lastHeard = now;
    t.feedback++;
    return true;
  }

  stat(sender: number, received: number, expected: number, atNs: number, now: number): void {
    this.rc?.stat(sender - 1, atNs, received, expected, now);
  }

  openOk(sender: number, object: number, rxNs: number, now: number): void {
    const s = this.flows.get(object);
    if (!s) return;
    const t = this.targets.list[sender - 1];
    if (s.lastOpenNs && rxNs > s.lastOpenNs && t.rttUs.length < 100_000 && s.flow.isWaitingOn(sender)) {
      t.rttUs.push((rxNs - s.lastOpenNs) / 1000);
      this.openAnswer.sample((rxNs - s.lastOpenNs) / 1e6);
    }
    this.exec(s, s.flow.onOpenOk(sender, now));
  }

  missing(sender: number, object: number, round: number, payload: Buffer, now: number): void {
    const s = this.flows.get(object);
    if (!s) return;
    const info = decodeMissing(payload, s.flow.pages);
    if (!info) return;
    if (round === s.flow.round && s.flow.phase === 'eof' && s.flow.isWaitingOn(sender)) this.targets.list[sender - 1].missingPages += info.total;
    this.eofAnswered(s, sender, round, now);
    this.exec(s, s.flow.onMissing(sender, round, info, now));
  }

  checkMissing(sender: number, object: number, k: number, payload: Buffer): void {
    const s = this.flows.get(object);
    if (s) this.checks.answer(s, sender, k, payload);
  }

  done(sender: number, object: number, d: DoneInfo, now: number): void {
    const s = this.flows.get(object);
    if (!s) {
      // a file of a pack in flight that failed on this target (the pack's own Done says the rest)
      const p = this.packOf.get(object)?.pack;
      if (p && d.code !== DoneCode.Ok) {
        let mine = p.failed.get(sender);
        if (!mine) p.failed.set(sender, mine = new Map());
        mine.set(object, { error: d.message || FAILURE_CODES[d.code], code: FAILURE_CODES[d.code] });
      }
      return;
    }
    const t = this.targets.list[sender - 1];
    if (d.code === DoneCode.Ok && s.entry >= 0 && s.flow.pending.has(sender)) {
      const secs = (now - s.openedAt) / 1000;
      if (!t.slowest || secs > t.slowest.seconds) t.slowest = { path: display(this.segs.entries.path(s.entry)), seconds: secs };
    }
    if (s.flow.phase === 'eof') this.eofAnswered(s, sender, s.flow.round, now);
    this.exec(s, s.flow.onDone(sender, { ok: d.code === DoneCode.Ok, message: d.message, code: FAILURE_CODES[d.code] }, now));
  }

  wait(sender: number, object: number, round: number, now: number): void {
    const s = this.flows.get(object);
    if (!s) return;
    this.eofAnswered(s, sender, round, now);
    s.flow.onWait(sender, round, now);
  }

  needSum(sender: number, object: number, now: number): void {
    // its Sums was lost: once more (every target asking in this batch gets the one)
    const s = this.flows.get(object);
    if (s?.hash && s.flow.isWaitingOn(sender)) this.sums.queue(object, s.hash, now, true);
  }
}
