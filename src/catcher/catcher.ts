// multicatcher: the target side. Reads the session header from stdin, joins
// the group, receives the manifest, decides what this target needs, applies
// what needs no data (local.ts), receives the files it needs into temp files
// beside their final names (receive.ts), verifies each against the master's
// signed hash and renames it into place; the receipt machine (receipt.ts)
// says what to do at each event. Cleans up and exits when stdin closes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { emit, serveChannel } from '../channel/serve';
import { LoopEvent, NativePageLoop, PACKET_OVERHEAD, native, openPageLoop } from '../native';
import { ENCRYPT_OVERHEAD, REJOIN_MS, datagramBits, interfaceToward, isOwnAddress, mtuProblem, routerToward, wireOverhead } from '../options';
import { Entry, Kind, ManifestSet, SEG_BASE, decodeManifest, entryOf, isSegment } from '../wire/manifest';
import { decodePack, isPack } from '../wire/pack';
import { display } from '../wire/paths';
import { ACKS_PER_DATAGRAM, ACK_LEN, AckType, MISSING_PACKETS_PER_ROUND, Msg, RUNS_PER_PACKET, abortSigned, decodeBatch, decodeCheck, decodeSums, encodeDone, encodeMissing, isAwaited, splitAwaited, writeAck } from '../wire/protocol';
import { MAX_PAGES, clipRuns, pagesOf, runPages } from '../wire/runs';
import { MasterLine, SessionParams, SyncParams, earlyStatMs, usageNow, validateSession } from '../wire/session';
import { MasterVerifier } from '../wire/signing';
import { TrainMeter } from '../wire/train';
import { Beneath } from './beneath';
import { tempName } from './fsx';
import { anonymousFile, memoryFile, readWhole, writeWhole } from '../tmpfile';
import { DiskLocal, DryLocal, Local } from './local';
import { Mirror } from './mirror';
import { Receipt, ReceiptAction } from './receipt';
import { MemberStage, Receiving } from './receive';
import { describe, errnoName, injectedFault } from '../errors';
import { nowMs } from '../clock';

/** The most files a catcher says it can receive at once (the master's --window caps it too). */
const FILES_IN_FLIGHT_MAX = 4096;

/** Manifest entries planned per turn of the event loop (drainSegments). */
const PLAN_SLICE = 64;

/** The first two seconds of data: rate reports every earlyStatMs (the rate's startup), whatever statMs is. */
const EARLY_SPAN_MS = 2000;

export class Catcher {
  private loop!: NativePageLoop;
  private readonly root: Buffer;
  private tree!: Beneath;   // every step on the target goes through this (beneath.ts)
  private readonly owner = process.getuid?.() === 0;
  private readonly sync: SyncParams;
  private readonly dry: boolean; // -n: decide and itemize, change nothing
  private mirror!: Mirror;
  private local!: Local;
  private receiving!: Receiving;
  private readonly receipt: Receipt;
  private readonly verifier: MasterVerifier;
  private entries = new ManifestSet();
  private segFds = new Map<number, number>(); // a segment's bytes, as they arrive (an unlinked file)
  private packFds = new Map<number, { fd: number; size: number }>(); // a pack's bytes, as they arrive (in memory: memfd)
  private planning = false;                   // a segment is being planned, a slice per turn
  private items: string[] = [];               // -n: itemized changes not yet sent
  private closed = false;
  private answersByChannel = false; // the master asked for the answers over the channel (its UDP port closed)
  private heardSaid = false; // said over the channel that the master's datagrams reach it ('heard')
  private statTimer: NodeJS.Timeout | null = null;
  private readonly acks = Buffer.alloc(ACKS_PER_DATAGRAM * ACK_LEN); // answers not sent yet (ack())
  private ackCount = 0;
  private ackDue = false;
  private train: TrainMeter | null = null; // the master's probe train (train.ts), once per session

  constructor(private readonly p: SessionParams) {
    this.root = Buffer.from(p.dst, 'base64');
    this.sync = p.sync ?? { delete: false, backup: null, filters: [], checksum: false, dryRun: false };
    this.dry = this.sync.dryRun;
    this.verifier = new MasterVerifier(p.signKey);
    this.receipt = new Receipt((object) => this.local.needs.get(object) === 1);
  }

  start(): void {
    const ifname = interfaceToward(this.p.family, this.p.master, this.p.masterPort); // where the master's datagrams come in
    const datagram = this.p.pageSize + (this.p.encrypt === true ? ENCRYPT_OVERHEAD : 0) + PACKET_OVERHEAD;
    const tooBig = mtuProblem(this.p.family, ifname, datagram, { option: '--page-size', now: this.p.pageSize });
    if (tooBig) throw new Error(tooBig);
    this.openTree();
    const warn = (msg: string): void => emit({ t: 'log', level: 'warn', msg });
    const item = (line: string): void => { if (this.dry) this.items.push(line); };
    this.mirror = new Mirror(this.tree, this.sync, this.dry, { item, warn });
    this.local = new (this.dry ? DryLocal : DiskLocal)(this.tree, this.entries, this.sync, this.owner, this.mirror, { item, warn });
    this.receiving = new Receiving(this.tree, this.mirror, this.owner, this.p.removeFirst);
    const fds = native.raiseFdLimit(); // two descriptors per file in flight (the temp file, its directory)
    this.loop = openPageLoop({
      family: this.p.family, group: this.p.group, port: this.p.port, bindPort: this.p.port, ifname,
      ttl: this.p.ttl, loopback: this.p.loopback, join: true, key: Buffer.from(this.p.key, 'hex'),
      sender: this.p.sender, pageSize: this.p.pageSize, rateBps: 1e9,
      wireOverhead: wireOverhead(this.p.family), rcvbuf: 32 << 20, sndbuf: 1 << 20, napUs: 3000, napMaxUs: 10_000, rejoinMs: REJOIN_MS,
      encrypt: this.p.encrypt === true, master: this.p.master, masterPort: this.p.masterPort,
    }, (evs) => this.onEvents(evs));
    this.startStats();
    const files = fds < 0 ? FILES_IN_FLIGHT_MAX : Math.max(8, Math.min(FILES_IN_FLIGHT_MAX, Math.floor((fds - 64) / 2)));
    this.receipt.packLimit = files; // the master's window holds to it
    const here = isOwnAddress(this.p.master);
    const router = here ? null : routerToward(this.p.family, this.p.master);
    emit({ t: 'ready', files, place: this.place(), ...(here ? { here } : {}), ...(router ? { router } : {}) });
  }

  /**
   * This running machine and the destination directory, hashed (its boot's
   * id, the directory's device and inode): two names in a target list for one
   * host and directory give the same, and the master pushes there once
   * (push.ts). Undefined where they cannot be read.
   */
  private place(): string | undefined {
    try {
      const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const st = fs.fstatSync(this.tree.fd, { bigint: true });
      return crypto.createHash('sha256').update(`${boot}:${st.dev}:${st.ino}`).digest('hex').slice(0, 32);
    } catch {
      return undefined;
    }
  }

  /**
   * What arrived and what should have (the master numbers its data
   * datagrams), for the master's rate control: every statMs while data
   * arrives, from a random phase so that many targets do not report at once;
   * those of the first two seconds every earlyStatMs (25 or 50 ms), so that
   * the startup moves quickly and a start above the path is seen at once
   * however many targets there are.
   */
  private startStats(): void {
    let lastRecv = 0;
    let seq = 0;
    let nextAt = 0;
    const every = Math.max(50, Math.min(10_000, this.p.statMs ?? 100));
    const early = earlyStatMs(every);
    const earlyStats = EARLY_SPAN_MS / early;
    setTimeout(() => {
      if (this.closed) return;
      this.statTimer = setInterval(() => {
        const now = nowMs();
        if (now < nextAt) return;
        const st = this.loop.stats();
        if (st.dataRecv === lastRecv) return;
        lastRecv = st.dataRecv;
        const b = Buffer.alloc(24);
        b.writeBigUInt64BE(BigInt(st.dataRecv), 0);
        b.writeBigUInt64BE(BigInt(st.dataExpected), 8);
        b.writeBigUInt64BE(BigInt(native.monoNs()), 16); // the interval's length is the catcher's own
        this.reply(Msg.Stat, 0, seq++, b);
        // after the early ones, every statMs from a phase of its own
        nextAt = now + (seq < earlyStats ? 0 : seq === earlyStats ? Math.random() * every : every) - early / 2;
      }, early);
    }, Math.floor(Math.random() * early));
  }

  /** The destination tree: made if missing (a daemon's: beneath its root, every step verified), and writable. */
  private openTree(): void {
    const shown = display(this.root);
    if (this.dry && !this.p.confine && !fs.existsSync(this.root)) {
      // -n and no target yet: an empty tree that reads as empty and cannot be written
      const empty = fs.mkdtempSync(path.join(os.tmpdir(), '.mrsync-dry-'));
      this.tree = Beneath.open(Buffer.from(empty));
      fs.rmdirSync(empty);
      return;
    }
    if (this.p.confine) {
      const top = Beneath.open(Buffer.from(this.p.confine, 'base64'));
      try {
        this.tree = top.descend(this.root);
      } catch (e) {
        throw new Error(`cannot use target directory ${shown}: ${describe(e)}`);
      } finally {
        top.close();
      }
    } else {
      try {
        fs.mkdirSync(this.root, { recursive: true, mode: 0o755 });
      } catch (e) {
        const st = fs.statSync(this.root, { throwIfNoEntry: false });
        if (st && !st.isDirectory()) throw new Error(`target path ${shown} exists and is not a directory`);
        throw new Error(`cannot create target directory ${shown}: ${describe(e)}`);
      }
      this.tree = Beneath.open(this.root); // O_DIRECTORY: a root that is not a directory fails here
    }
    if (this.dry) return;
    try {
      this.tree.at(Buffer.from('probe'), (_p, sib) => {
        const probe = sib(tempName(Buffer.from('probe')));
        fs.closeSync(fs.openSync(probe, 'wx', 0o600));
        fs.unlinkSync(probe);
      });
    } catch (e) {
      throw new Error(`target directory ${shown} is not writable: ${describe(e)}`);
    }
  }

  // ---- events in ----

  private onEvents(evs: LoopEvent[]): void {
    for (const e of evs) {
      if (this.closed) break;
      try {
        this.run(this.onEvent(e));
      } catch (err) {
        // a fault of this program, not of the disk or the LAN (those are each file's failure): the file it was on
        // would never be answered for and the master would wait on it, so the target fails now, named
        emit({ t: 'fatal', msg: `internal: ${(err as Error).stack ?? err}` });
      }
    }
    this.receiving?.endTurn(); // the next batch's files look their directories up again
  }

  private onEvent(e: LoopEvent): ReceiptAction[] {
    injectedFault(e.kind);
    switch (e.kind) {
      case 'complete': // the native loop hashed the pages as they came: payload = SHA-256 of what arrived
        this.loop.closeSink(e.object);
        return this.receipt.complete(e.object, e.payload!);
      case 'sinkError':
        return this.receipt.sinkError(e.object, errnoName(e.err));
      case 'control': {
        if (e.sender !== 0) return [];
        if (!this.heardSaid) { this.heardSaid = true; emit({ t: 'heard' }); }
        if (e.type === Msg.Train) {
          this.train ??= new TrainMeter(datagramBits(this.p.pageSize, this.p.family), (bps, n) => {
            if (this.closed) return;
            this.loop.stampArrivals(false); // the pages need no stamp
            emit({ t: 'train', bps: Math.round(bps ?? 0), n });
          });
          this.train.add(e.index, e.rxNs);
          return [];
        }
        if (e.type === Msg.Sums) {
          const sums = decodeSums(e.payload, e.index, this.verifier);
          return sums ? this.receipt.sumsIn(sums) : []; // not the master's: whoever else holds the session key has no say
        }
        if (e.type === Msg.Abort) return abortSigned(e.object, e.payload, this.verifier) ? this.receipt.abort(e.object) : [];
        if (e.type === Msg.Check) {
          if (isSegment(e.object) || isPack(e.object) || this.receipt.phase(e.object) !== 'receiving') return [];
          const size = this.entries.size(entryOf(e.object));
          const c = decodeCheck(e.payload, pagesOf(size, this.p.pageSize));
          return c ? this.receipt.checkpoint(e.object, e.index, c.from, c.to) : [];
        }
        const sp = splitAwaited(e.payload);
        if (!sp) return [];
        const asked = isAwaited(sp.awaited, this.p.sender);
        if (e.type === Msg.Open) return this.receipt.open(e.object, asked, e.index);
        if (e.type === Msg.Eof) return this.receipt.eof(e.object, e.index, asked);
        if (!asked || (e.type !== Msg.Opens && e.type !== Msg.Eofs)) return [];
        // many files' OPENs or EOFs (protocol.ts encodeBatch): each as if it came alone
        const items = decodeBatch(sp.rest, e.type === Msg.Opens ? 4 : 8);
        if (!items) return [];
        const out: ReceiptAction[] = [];
        if (e.type === Msg.Opens) for (const object of items) out.push(...this.receipt.open(object, true));
        else for (let i = 0; i < items.length; i += 2) out.push(...this.receipt.eof(items[i], items[i + 1], true));
        return out;
      }
      default:
        return [];
    }
  }

  /** The master's line for segment k: what it holds (its OPEN may be waiting for it). */
  onSegmentLine(k: unknown, size: unknown, hash: unknown): void {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || typeof size !== 'number' || !Number.isInteger(size)
      || size < 13 || size > 1 << 30 || typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return;
    this.run(this.receipt.segmentLine(k, size, Buffer.from(hash, 'hex')));
  }

  // ---- actions out ----

  private run(actions: ReceiptAction[]): void {
    for (const a of actions) {
      switch (a.a) {
        case 'reply': this.ack(a.type, a.object, a.index); break;
        case 'done':
          if (!a.message) { this.ack(Msg.Done, a.object, a.code); break; }
          this.flushAcks();
          this.reply(Msg.Done, a.object, 0, encodeDone({ code: a.code, message: a.message }));
          break;
        case 'missing': this.sendMissing(a.object, a.round); break;
        case 'checkMissing': this.sendCheckMissing(a.object, a.k, a.from, a.to); break;
        case 'create': this.run(a.size !== undefined ? this.createPack(a.object, a.size) : this.create(a.object)); break;
        case 'commit': this.run(isPack(a.object) ? this.unpack(a.object) : this.commit(a.object)); break;
        case 'discard':
          this.loop.closeSink(a.object);
          this.receiving.discard(a.object);
          this.closePack(a.object);
          break;
        case 'openSegment':
          if (!this.train) this.loop.stampArrivals(false); // the manifest comes after the train: none is coming
          this.run(this.openSegment(a.k, a.size));
          break;
        case 'plan': this.drainSegments(); break;
        case 'fatal': emit({ t: 'fatal', msg: a.msg }); break;
      }
    }
  }

  private reply(type: Msg, object: number, index: number, payload: Buffer | null): void {
    if (this.answersByChannel) emit({ t: 'answer', type, object, index, ...(payload && payload.length ? { p: payload.toString('base64') } : {}) });
    else this.loop.sendControl(type, object, index, payload, true);
  }

  /** The master hears none of this catcher's UDP (its firewall): the answers go over the channel from now on. */
  answersOverChannel(): void {
    this.answersByChannel = true;
  }

  /**
   * An answer for one file (OpenOk, Done without a message, Wait, NeedSum):
   * it waits for the others this batch of events makes (the master's OPENs
   * and EOFs come in bursts, a batch of pages completes many small files)
   * and they go in one Acks datagram when the batch is over, or when it is full.
   */
  private ack(type: AckType, object: number, arg: number): void {
    writeAck(this.acks, this.ackCount++ * ACK_LEN, type, object, arg);
    if (this.ackCount === ACKS_PER_DATAGRAM) { this.flushAcks(); return; }
    if (this.ackDue) return;
    this.ackDue = true;
    setImmediate(() => { this.ackDue = false; this.flushAcks(); });
  }

  /** The answers waiting go now (also before a datagram of another kind, to keep their order). */
  private flushAcks(): void {
    if (this.ackCount === 0 || this.closed) return;
    this.reply(Msg.Acks, 0, 0, Buffer.from(this.acks.subarray(0, this.ackCount * ACK_LEN)));
    this.ackCount = 0;
  }

  private create(object: number): ReceiptAction[] {
    const entry = this.entries.get(entryOf(object));
    if (pagesOf(entry.size, this.p.pageSize) > MAX_PAGES) return this.receipt.failed(object, `too big for pages of ${this.p.pageSize} bytes`, 'TOO_BIG');
    let fd: number;
    try {
      fd = this.receiving.create(object, entry);
    } catch (e) {
      return this.receipt.failed(object, `cannot create temp file: ${describe(e)}`, 'CREATE_FAILED');
    }
    const err = this.loop.openSink(object, fd, entry.size);
    if (err) return this.receipt.failed(object, `cannot receive: ${errnoName(err)}`, 'CREATE_FAILED');
    return this.receipt.created(object);
  }

  /** A pack's bytes go into a file in memory (memoryFile: nothing to clean up after a crash). */
  private createPack(object: number, size: number): ReceiptAction[] {
    let fd: number;
    try {
      fd = memoryFile();
    } catch (e) {
      return this.receipt.failed(object, `cannot hold a pack of small files: ${describe(e)}`, 'CREATE_FAILED');
    }
    this.packFds.set(object, { fd, size });
    const err = this.loop.openSink(object, fd, size);
    if (err) return this.receipt.failed(object, `cannot receive: ${errnoName(err)}`, 'CREATE_FAILED');
    return this.receipt.created(object);
  }

  /** A pack's descriptor, once the loop has let go of it (closeSink). */
  private closePack(object: number): void {
    const p = this.packFds.get(object);
    if (!p) return;
    this.packFds.delete(object);
    try { fs.closeSync(p.fd); } catch { /* closed */ }
  }

  /**
   * A pack checked against the master's hash: each of its files this target
   * needs goes through a temp file of its own, checked and renamed as one
   * received alone (receive.ts); each failure is its own.
   */
  private unpack(object: number): ReceiptAction[] {
    const p = this.packFds.get(object)!;
    let bytes: Buffer;
    try {
      bytes = Buffer.allocUnsafe(p.size);
      if (!readWhole(p.fd, bytes)) throw new Error('short read');
    } catch (e) {
      return this.receipt.failed(object, `cannot read a pack of small files: ${describe(e)}`, 'WRITE_FAILED');
    } finally {
      this.closePack(object);
    }
    const files = decodePack(bytes, (o) => {
      const i = entryOf(o);
      return o >= 1 && i < this.entries.length && this.entries.kind(i) === Kind.File ? this.entries.size(i) : null;
    });
    if (!files) return this.receipt.failed(object, 'a pack of small files that does not match the manifest', 'FAILED');
    const out: ReceiptAction[] = [];
    // most go in one native call; a file that needs a step of its own first (-X, -b, a directory in the way) alone
    const batch: { object: number; entry: Entry; offset: number; size: number }[] = [];
    for (const f of files) {
      if (!this.receipt.wantsMember(f.object)) continue;
      this.run(this.receipt.supersede(f.object)); // its copy coming alone, if any, goes before this one is made
      const entry = this.entries.get(entryOf(f.object));
      const displace = this.local.displaceDir.has(f.object);
      if (this.receiving.placeable(displace)) { batch.push({ object: f.object, entry, offset: f.offset, size: f.size }); continue; }
      const failed = this.receiveMember(f.object, entry, displace, bytes, f.offset, f.size);
      if (failed) out.push(...this.memberFailed(f.object, failed.stage, failed.error));
      else this.receipt.memberCommitted(f.object);
    }
    const placed = batch.length ? this.receiving.place(batch, bytes) : [];
    placed.forEach((r, k) => {
      if (r) out.push(...this.memberFailed(batch[k].object, r.stage, r.error));
      else this.receipt.memberCommitted(batch[k].object);
    });
    out.push(...this.receipt.committed(object));
    return out;
  }

  /** One file of a pack through its own temp file, create, write and commit; what failed, or null. */
  private receiveMember(object: number, entry: Entry, displace: boolean, bytes: Buffer, offset: number, size: number): { stage: MemberStage; error: unknown } | null {
    let fd: number;
    try {
      fd = this.receiving.create(object, entry);
    } catch (error) {
      return { stage: 'create', error };
    }
    try {
      writeWhole(fd, bytes, offset, size);
    } catch (error) {
      this.receiving.discard(object);
      return { stage: 'write', error };
    }
    try {
      this.receiving.commit(object, displace);
    } catch (error) {
      this.receiving.discard(object);
      return { stage: 'commit', error };
    }
    return null;
  }

  /** A file of a pack that could not be placed: its failure, by what failed. */
  private memberFailed(object: number, stage: MemberStage, e: unknown): ReceiptAction[] {
    if (stage === 'create') return this.receipt.memberFailed(object, `cannot create temp file: ${describe(e)}`, 'CREATE_FAILED');
    if (stage === 'write') return this.receipt.memberFailed(object, `write failed: ${(e as NodeJS.ErrnoException).code ?? describe(e)}`, 'WRITE_FAILED');
    return this.receipt.memberFailed(object, `cannot commit: ${describe(e)}`, 'COMMIT_FAILED');
  }

  private commit(object: number): ReceiptAction[] {
    try {
      this.receiving.commit(object, this.local.displaceDir.has(object));
    } catch (e) {
      return this.receipt.failed(object, `cannot commit: ${describe(e)}`, 'COMMIT_FAILED');
    }
    return this.receipt.committed(object);
  }

  private sendMissing(object: number, round: number): void {
    const m = this.loop.sinkMissing(object, RUNS_PER_PACKET * MISSING_PACKETS_PER_ROUND);
    if (!m || m.missing === 0) { this.ack(Msg.Wait, object, round); return; }
    this.flushAcks();
    for (let i = 0; i < m.runs.length || i === 0; i += RUNS_PER_PACKET * 2) {
      this.reply(Msg.Missing, object, round, encodeMissing(m.missing, m.runs.subarray(i, i + RUNS_PER_PACKET * 2)));
    }
  }

  /** A checkpoint of a big file: what is missing of [from, to) (nothing = an empty report). */
  private sendCheckMissing(object: number, k: number, from: number, to: number): void {
    const m = this.loop.sinkMissing(object, RUNS_PER_PACKET * MISSING_PACKETS_PER_ROUND);
    if (!m) return;
    const runs = clipRuns(m.runs, from, to);
    const total = runPages(runs);
    this.flushAcks();
    for (let i = 0; i < runs.length || i === 0; i += RUNS_PER_PACKET * 2) {
      this.reply(Msg.CheckMissing, object, k, encodeMissing(total, runs.subarray(i, i + RUNS_PER_PACKET * 2)));
    }
  }

  // ---- manifest segments ----

  /** A manifest segment into an unlinked temp file (nothing to clean up after a crash), then OpenOk. */
  private openSegment(k: number, size: number): ReceiptAction[] {
    const fd = anonymousFile();
    this.segFds.set(k, fd);
    const err = this.loop.openSink(SEG_BASE + k, fd, size);
    if (err) return [{ a: 'fatal', msg: `cannot store the manifest: ${errnoName(err)}` }];
    return this.receipt.segmentOpened(k);
  }

  /**
   * Decode and plan the segments that have arrived, in order; report each
   * one's needs. A segment is planned PLAN_SLICE entries per turn of the
   * event loop: the OPENs and EOFs of files already on their way are answered
   * in between (the master sends no file's pages before every target has
   * acknowledged its OPEN), instead of waiting for thousands of lookups.
   */
  private drainSegments(): void {
    const k = this.receipt.nextSeg;
    if (this.planning || this.closed || this.receipt.segmentPhase(k) !== 'verified') return;
    const fd = this.segFds.get(k)!;
    this.segFds.delete(k);
    let first: number;
    let count: number;
    try {
      const bytes = Buffer.alloc(fs.fstatSync(fd).size);
      if (!readWhole(fd, bytes)) throw new Error('cannot read back a manifest segment: short read');
      const m = decodeManifest(bytes, this.entries);
      first = m.first;
      count = m.length;
    } catch (e) {
      this.receipt.segmentFailed(k);
      emit({ t: 'fatal', msg: (e as Error).message });
      return;
    } finally {
      fs.closeSync(fd);
    }
    this.planning = true;
    let at = first;
    const slice = (): void => {
      if (this.closed) return;
      const end = Math.min(first + count, at + PLAN_SLICE);
      try {
        this.local.planRange(at, end);
      } catch (e) {
        this.receipt.segmentFailed(k);
        emit({ t: 'fatal', msg: `internal: planning failed: ${(e as Error).stack ?? e}` });
        return;
      }
      at = end;
      if (at < first + count) { setImmediate(slice); return; }
      this.flushItems();
      const mine = this.local.segmentNeeds(first, count);
      this.run(this.receipt.segmentPlanned(k));
      this.planning = false;
      emit({ t: 'needs', seg: k, first, bitmap: mine.toString(16), count: mine.cardinality(), local: this.local.counts });
      this.drainSegments();
    };
    slice();
  }

  private flushItems(): void {
    for (let i = 0; i < this.items.length; i += 1000) emit({ t: 'itemize', lines: this.items.slice(i, i + 1000) });
    this.items = [];
  }

  // ---- the end ----

  /** After the data phase: hardlinks, --delete, directory metadata; then the result. */
  finish(keep: number[] = []): void {
    // a leader is final if it was committed, or needed nothing (kept as it was); one that needed data
    // and was aborted (changed on the master while sent) or never came is not, though the target's
    // older copy may still stand at its name: a hardlink to that would hold what the source never had
    const failed = this.local.finish((object) => {
      const phase = this.receipt.phase(object);
      return phase === 'committed' || (phase === undefined && !this.local.needs.get(object));
    }, new Set(keep));
    this.flushItems();
    if (this.dry) {
      emit({ t: 'result', ok: failed.length === 0, failed, local: this.local.counts });
      return;
    }
    for (const [object, error, code] of this.receipt.unfinished()) if (!isPack(object)) failed.push({ entry: entryOf(object), error, code });
    for (const object of this.local.needs.toArray()) {
      if (!this.receipt.opened(object)) failed.push({ entry: entryOf(object), error: 'not delivered', code: 'NOT_DELIVERED' });
    }
    const st = this.loop.stats();
    const packets = { badAuth: st.badAuth, badFormat: st.badFormat, duplicates: st.dataDup, rebuilt: st.fecRecovered };
    emit({ t: 'result', ok: failed.length === 0, failed, local: this.local.counts, packets, usage: usageNow() });
  }

  /** stdin closed or a signal: remove every temp file, stop the loop. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [object] of this.receipt.unfinished()) this.loop?.closeSink(object);
    this.receiving?.discardAll();
    for (const object of [...this.packFds.keys()]) this.closePack(object);
    for (const [k, fd] of this.segFds) {
      this.loop?.closeSink(SEG_BASE + k); // the loop borrows the descriptor until then
      try { fs.closeSync(fd); } catch { /* closed */ }
    }
    if (this.statTimer) clearInterval(this.statTimer);
    this.train?.stop();
    this.loop?.stop();
    this.mirror?.close();
    this.tree?.close();
  }
}


/** Entry point of bin/multicatcher: session on stdin, lines on stdout. */
export function catcherMain(): void {
  serveChannel((header) => {
    const c = new Catcher(validateSession(header));
    c.start();
    return {
      line: (m) => {
        const msg = m as MasterLine;
        if (msg && msg.t === 'finish') c.finish(Array.isArray(msg.keep) ? msg.keep.filter((i) => Number.isInteger(i)) : []);
        else if (msg && msg.t === 'segment') c.onSegmentLine(msg.k, msg.size, msg.hash);
        else if (msg && msg.t === 'answers' && msg.via === 'channel') c.answersOverChannel();
      },
      shutdown: () => c.shutdown(),
    };
  });
}
