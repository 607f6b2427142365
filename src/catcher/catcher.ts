// multicatcher: the target side. Reads the session header from stdin, joins
// the group, receives the manifest, decides what this target needs, applies
// what needs no data (directories, symlinks, empty files, metadata), receives
// the files it needs into temp files beside their final names, verifies each
// against the source hash and renames it into place. Cleans up and exits
// when stdin closes.
import BitSet from 'bitset';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Entry, Flag, Kind, ManifestSet, SEG_BASE, decodeManifest, entryOf, isSegment, objectOf } from '../wire/manifest';
import { Mirror } from './mirror';
import { LoopEvent, NativePageLoop, native, openPageLoop } from '../native';
import { wireOverhead } from '../options';
import { baseOf, display, parentOf } from '../wire/paths';
import { Beneath, Lookup, errnoError } from './beneath';
import { Decision, PlanOptions, decide, itemCode } from './plan';
import {
  DoneCode, MISSING_PACKETS_PER_ROUND, Msg, RUNS_PER_PACKET, abortSigned, decodeCheck, decodeSums, encodeDone, encodeMissing, isAwaited, splitAwaited,
} from '../wire/protocol';
import { MAX_PAGES, clipRuns, pagesOf, runPages } from '../wire/runs';
import { MasterVerifier } from '../wire/signing';
import { emit, serveChannel } from '../channel/serve';
import { LocalCounts, MasterLine, SessionParams, SyncParams, usageNow, validateSession } from '../wire/session';
import { anonymousFile, errText, isTempName, lstatHave, setMtime, splitNs, tempName } from './fsx';

const { O_RDWR, O_CREAT, O_EXCL } = fs.constants;
/** native.commitFile's steps, for its errors. */
const COMMIT_STEPS = ['fchown', 'fchmod', 'futimens', 'close', 'rename'];
/** Manifest entries planned per turn of the event loop (drainSegments). */
const PLAN_SLICE = 64;

type FilePhase = 'receiving' | 'verifying' | 'awaitHash' | 'committed' | 'failed';

interface FileState {
  phase: FilePhase;
  fd: number;
  dirfd: number;              // its directory (O_PATH), held from the temp file's creation to its rename
  digest?: Buffer;            // what arrived, waiting for the master's hash (awaitHash)
  tmp: Buffer | null; // name of the temp file beside the final name
  hash: Buffer | null;        // the master's SHA-256 of the file, from a signed Sums
  entry: Entry;               // its manifest entry (decoded once, at the OPEN): size, owner, mode, mtime
  error?: string;
  eofSeen?: boolean;  // the master has asked (EOF) and waits: a commit answers at once
}

export class Catcher {
  private loop!: NativePageLoop;
  private readonly root: Buffer;
  private tree!: Beneath; // every step on the target goes through this (beneath.ts)
  private readonly owner = process.getuid?.() === 0;
  // manifest segments, as they arrive (objects SEG_BASE + k), planned in order
  private segs = new Map<number, { fd: number; size: number; hash: Buffer; phase: 'receiving' | 'verifying' | 'verified' | 'done' | 'failed'; bytes?: Buffer }>();
  // segments' size and hash as the master's channel line gave them, and OPENs that came before their line
  private segLines = new Map<number, { size: number; hash: Buffer }>();
  private segOpens = new Set<number>();
  // signed file hashes for files not opened yet (a set-aside target gets them before its catch-up's OPEN)
  private sums = new Map<number, Buffer>();
  private readonly verifier: MasterVerifier;
  private nextSeg = 0;
  private entries = new ManifestSet();
  private needs = new BitSet(); // objects whose data this target needs
  private files = new Map<number, FileState>();
  private failed = new Map<number, string>(); // entry -> error, for local steps
  private deferredLinks: number[] = [];
  private counts: LocalCounts = { dirs: 0, symlinks: 0, links: 0, empty: 0, meta: 0, kept: 0, failed: 0 };
  private closed = false;
  private readonly sync: SyncParams;
  private readonly dry: boolean;          // -n: decide and itemize, change nothing
  private mirror!: Mirror;
  private items: string[] = [];
  private displaceDir = new Set<number>(); // objects whose final name holds a directory that --delete removes at commit

  constructor(private readonly p: SessionParams) {
    this.root = Buffer.from(p.dst, 'base64');
    this.sync = p.sync ?? { delete: false, backup: null, filters: [], checksum: false, dryRun: false };
    this.dry = this.sync.dryRun;
    this.verifier = new MasterVerifier(p.signKey);
  }

  private item(code: string, rel: Buffer, tail = ''): void {
    if (this.dry) this.items.push(`${code} ${isRootPath(rel) ? './' : display(rel)}${tail}`);
  }

  start(): void {
    this.checkRoot();
    native.raiseFdLimit(); // up to three descriptors per file in flight
    this.loop = openPageLoop({
      family: this.p.family, group: this.p.group, port: this.p.port, bindPort: this.p.port, ifname: '',
      ttl: this.p.ttl, loopback: this.p.loopback, join: true, key: Buffer.from(this.p.key, 'hex'),
      sender: this.p.sender, pageSize: this.p.pageSize, rateBps: 1e9,
      wireOverhead: wireOverhead(this.p.family), rcvbuf: 32 << 20, sndbuf: 1 << 20, napUs: 3000, napMaxUs: 10_000,
      encrypt: this.p.encrypt === true, master: this.p.master, masterPort: this.p.masterPort,
    }, (evs) => this.onEvents(evs));
    // what arrived and what should have (the master numbers its data datagrams),
    // for the master's rate control: every statMs while data arrives, from a
    // random phase so that many targets do not report at once
    let lastRecv = 0;
    let seq = 0;
    const every = Math.max(50, Math.min(10_000, this.p.statMs ?? 100));
    setTimeout(() => {
      if (this.closed) return;
      this.statTimer = setInterval(() => {
        const st = this.loop.stats();
        if (st.dataRecv === lastRecv) return;
        lastRecv = st.dataRecv;
        const b = Buffer.alloc(16);
        b.writeBigUInt64BE(BigInt(st.dataRecv), 0);
        b.writeBigUInt64BE(BigInt(st.dataExpected), 8);
        this.reply(Msg.Stat, 0, seq++, b);
      }, every);
    }, Math.floor(Math.random() * every));
    emit({ t: 'ready' });
  }

  private checkRoot(): void {
    this.checkTree();
    this.mirror = new Mirror(this.tree, this.sync, this.dry, {
      item: (line) => { if (this.dry) this.items.push(line); },
      warn: (msg) => emit({ t: 'log', level: 'warn', msg }),
    });
  }

  private checkTree(): void {
    const shown = display(this.root);
    if (this.dry && !this.p.confine && !fs.existsSync(this.root)) {
      // -n and no target yet: an empty tree that reads as empty and cannot be written
      const empty = fs.mkdtempSync(path.join(os.tmpdir(), '.mrsync-dry-'));
      this.tree = Beneath.open(Buffer.from(empty));
      fs.rmdirSync(empty);
      return;
    }
    if (this.p.confine) {
      // a daemon's session: dst is a path inside the daemon's root, every step verified
      const top = Beneath.open(Buffer.from(this.p.confine, 'base64'));
      try {
        this.tree = top.descend(this.root);
      } catch (e) {
        throw new Error(`cannot use target directory ${shown}: ${errText(e)}`);
      } finally {
        top.close();
      }
    } else {
      try {
        fs.mkdirSync(this.root, { recursive: true, mode: 0o755 });
      } catch (e) {
        const st = fs.statSync(this.root, { throwIfNoEntry: false });
        if (st && !st.isDirectory()) throw new Error(`target path ${shown} exists and is not a directory`);
        throw new Error(`cannot create target directory ${shown}: ${errText(e)}`);
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
      throw new Error(`target directory ${shown} is not writable: ${errText(e)}`);
    }
  }

  private onEvents(evs: LoopEvent[]): void {
    for (const e of evs) {
      try {
        this.onEvent(e);
      } catch (err) {
        emit({ t: 'log', level: 'error', msg: `internal: ${(err as Error).stack ?? err}` });
      }
    }
  }

  private onEvent(e: LoopEvent): void {
    if (this.closed) return;
    switch (e.kind) {
      case 'complete': // the native loop hashed the pages as they came: payload = SHA-256 of what arrived
        if (isSegment(e.object)) this.onSegment(e.object - SEG_BASE, e.payload!);
        else this.onFileComplete(e.object, e.payload!);
        return;
      case 'sinkError': {
        if (isSegment(e.object)) { emit({ t: 'fatal', msg: `cannot store the manifest: ${errnoName(e.err)}` }); return; }
        const f = this.files.get(e.object);
        if (f) this.fail(e.object, f, `write failed: ${errnoName(e.err)}`);
        return;
      }
      case 'control':
        if (e.sender !== 0) return;
        if (e.type === Msg.Open) this.onOpen(e.object, e.payload!);
        else if (e.type === Msg.Eof) this.onEof(e.object, e.index, e.payload);
        else if (e.type === Msg.Sums) this.onSums(e.index, e.payload);
        else if (e.type === Msg.Check) this.onCheck(e.object, e.index, e.payload);
        else if (e.type === Msg.Abort && abortSigned(e.object, e.payload, this.verifier)) this.onAbort(e.object);
        return;
      default:
        return;
    }
  }

  private reply(type: Msg, object: number, index: number, payload: Buffer | null): void {
    this.loop.sendControl(type, object, index, payload, true);
  }

  private sendMissing(object: number, round: number): void {
    const m = this.loop.sinkMissing(object, RUNS_PER_PACKET * MISSING_PACKETS_PER_ROUND);
    if (!m || m.missing === 0) { this.reply(Msg.Wait, object, round, null); return; }
    for (let i = 0; i < m.runs.length || i === 0; i += RUNS_PER_PACKET * 2) {
      this.reply(Msg.Missing, object, round, encodeMissing(m.missing, m.runs.subarray(i, i + RUNS_PER_PACKET * 2)));
    }
  }

  private replyDone(object: number, f: FileState): void {
    const ok = f.phase === 'committed';
    this.reply(Msg.Done, object, 0, encodeDone({ code: ok ? DoneCode.Ok : DoneCode.Failed, message: f.error ?? '' }));
  }

  /** A checkpoint of a big file: report what is missing of [from, to) (nothing = an empty report). */
  private onCheck(object: number, k: number, payload: Buffer | undefined): void {
    const f = this.files.get(object);
    if (!f || f.phase !== 'receiving') return;
    const c = decodeCheck(payload, pagesOf(f.entry.size, this.p.pageSize));
    const m = c && this.loop.sinkMissing(object, RUNS_PER_PACKET * MISSING_PACKETS_PER_ROUND);
    if (!c || !m) return;
    const runs = clipRuns(m.runs, c.from, c.to);
    const total = runPages(runs);
    for (let i = 0; i < runs.length || i === 0; i += RUNS_PER_PACKET * 2) {
      this.reply(Msg.CheckMissing, object, k, encodeMissing(total, runs.subarray(i, i + RUNS_PER_PACKET * 2)));
    }
  }

  private onEof(object: number, round: number, whole: Buffer | undefined): void {
    const sp = splitAwaited(whole);
    if (!sp) return;
    const asked = isAwaited(sp.awaited, this.p.sender); // else the master has my answer: only take the hash
    if (isSegment(object)) {
      const sg = this.segs.get(object - SEG_BASE);
      if (!sg || !asked) return;
      if (sg.phase === 'receiving') this.sendMissing(object, round);
      else if (sg.phase === 'verifying' || sg.phase === 'verified') this.reply(Msg.Wait, object, round, null);
      else this.reply(Msg.Done, object, 0, encodeDone({ code: sg.phase === 'done' ? DoneCode.Ok : DoneCode.Failed, message: sg.phase === 'done' ? '' : 'bad manifest' }));
      return;
    }
    const f = this.files.get(object);
    if (!f) {
      if (asked && this.needs.get(object)) this.reply(Msg.Done, object, 0, encodeDone({ code: DoneCode.Failed, message: 'not opened' }));
      return;
    }
    if (!asked) return;
    f.eofSeen = true;
    if (f.phase === 'receiving') this.sendMissing(object, round);
    else if (f.phase === 'awaitHash') this.reply(Msg.NeedSum, object, round, null); // its Sums was lost
    else if (f.phase === 'verifying') this.reply(Msg.Wait, object, round, null);
    else this.replyDone(object, f);
  }

  /** The master's signed hashes: a file waiting for its hash is committed now; others keep theirs for later. */
  private onSums(index: number, payload: Buffer | undefined): void {
    const sums = decodeSums(payload, index, this.verifier);
    if (!sums) return; // not the master's: whoever else holds the session key has no say in what is committed
    for (const [object, hash] of sums) {
      if (!this.needs.get(object)) continue;
      const f = this.files.get(object);
      if (!f) { this.sums.set(object, hash); continue; }
      if (f.phase === 'committed' || f.phase === 'failed') continue;
      f.hash = hash; // the latest: a catch-up's first pass may have read the file anew
      if (f.phase === 'awaitHash') { f.phase = 'verifying'; this.commit(object, f, f.digest!); }
    }
  }

  /**
   * A manifest segment's OPEN. Its size and hash come over this target's own
   * channel (onSegmentLine); an OPEN that overtakes its line waits for it.
   */
  private onSegmentOpen(object: number): void {
    const k = object - SEG_BASE;
    const have = this.segs.get(k);
    if (have) {
      if (have.phase === 'done' || have.phase === 'failed') this.reply(Msg.Done, object, 0, encodeDone({ code: have.phase === 'done' ? DoneCode.Ok : DoneCode.Failed, message: '' }));
      else this.reply(Msg.OpenOk, object, 0, null);
      return;
    }
    if (this.segLines.has(k)) this.openSegment(k);
    else if (k <= this.nextSeg + 4096) this.segOpens.add(k);
  }

  /** The master's line for segment k: what it holds. */
  onSegmentLine(k: unknown, size: unknown, hash: unknown): void {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || typeof size !== 'number' || !Number.isInteger(size)
      || size < 13 || size > 1 << 30 || typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash) || this.segLines.has(k)) return;
    this.segLines.set(k, { size, hash: Buffer.from(hash, 'hex') });
    if (this.segOpens.delete(k)) this.openSegment(k);
  }

  /** A manifest segment into an unlinked temp file (nothing to clean up after a crash), then OpenOk. */
  private openSegment(k: number): void {
    const { size, hash } = this.segLines.get(k)!;
    const object = SEG_BASE + k;
    const fd = anonymousFile();
    fs.ftruncateSync(fd, size); // a sink is a file of its size (pages may come last, or from parity)
    this.segs.set(k, { fd, size, hash, phase: 'receiving' });
    const err = this.loop.openSink(object, fd, size);
    if (err) { emit({ t: 'fatal', msg: `cannot store the manifest: ${errnoName(err)}` }); return; }
    this.reply(Msg.OpenOk, object, 0, null);
  }

  private onOpen(object: number, whole: Buffer): void {
    const sp = splitAwaited(whole);
    if (!sp || !isAwaited(sp.awaited, this.p.sender)) return; // the master has my answer
    if (isSegment(object)) { this.onSegmentOpen(object); return; }
    if (!this.needs.get(object)) return;
    const existing = this.files.get(object);
    if (existing) {
      if (existing.phase === 'committed' || existing.phase === 'failed') this.replyDone(object, existing);
      else this.reply(Msg.OpenOk, object, 0, null);
      return;
    }
    // what arrives is the manifest's entry: its size, owner, mode and mtime (the OPEN only names it)
    const entry = this.entries.get(entryOf(object));
    const f: FileState = { phase: 'receiving', fd: -1, dirfd: -1, tmp: null, hash: this.sums.get(object) ?? null, entry };
    this.sums.delete(object);
    this.files.set(object, f);
    if (pagesOf(entry.size, this.p.pageSize) > MAX_PAGES) { this.fail(object, f, `too big for pages of ${this.p.pageSize} bytes`); return; }
    try {
      if (this.p.removeFirst) {
        // -X: make room first on a nearly full disk
        this.tree.at(entry.path, (final) => {
          const h = lstatHave(final);
          if (h && h.kind !== 'dir') fs.unlinkSync(final);
        });
      }
      f.dirfd = this.tree.parentFd(entry.path);
      const tmp = tempName(entry.path);
      const fd = native.openBeneath(f.dirfd, tmp, O_RDWR | O_CREAT | O_EXCL, 0o600);
      if (fd < 0) throw errnoError(-fd, 'open', entry.path);
      f.fd = fd;
      f.tmp = tmp;
      if (entry.size > 0) fs.ftruncateSync(f.fd, entry.size);
    } catch (e) {
      this.fail(object, f, `cannot create temp file: ${errText(e)}`);
      return;
    }
    const err = this.loop.openSink(object, f.fd, entry.size);
    if (err) { this.fail(object, f, `cannot receive: ${errnoName(err)}`); return; }
    this.reply(Msg.OpenOk, object, 0, null);
  }

  private onAbort(object: number): void {
    const f = this.files.get(object);
    if (!f || f.phase === 'committed') return;
    this.loop.closeSink(object);
    this.discard(f, object);
    this.files.delete(object);
  }

  private discard(f: FileState, object: number): void {
    if (f.fd >= 0) { try { fs.closeSync(f.fd); } catch { /* already closed */ } f.fd = -1; }
    if (f.tmp) {
      const tmp = f.tmp;
      try { this.tree.at(this.entries.path(entryOf(object)), (_p, sib) => fs.unlinkSync(sib(tmp))); } catch { /* gone */ }
      f.tmp = null;
    }
    this.closeDir(f);
  }

  private closeDir(f: FileState): void {
    if (f.dirfd >= 0) { try { fs.closeSync(f.dirfd); } catch { /* closed */ } f.dirfd = -1; }
  }

  private fail(object: number, f: FileState, why: string): void {
    this.loop.closeSink(object);
    this.discard(f, object);
    f.phase = 'failed';
    f.error = why;
    this.replyDone(object, f);
  }

  private statTimer: NodeJS.Timeout | null = null;

  private onFileComplete(object: number, h: Buffer): void {
    const f = this.files.get(object);
    if (!f || f.phase !== 'receiving') return;
    f.phase = 'verifying';
    this.loop.closeSink(object);
    if (!f.hash) { f.digest = h; f.phase = 'awaitHash'; return; } // the master's hash comes in a signed Sums
    this.commit(object, f, h);
  }

  private commit(object: number, f: FileState, h: Buffer): void {
    const entry = f.entry;
    try {
      if (!h.equals(f.hash!)) { this.fail(object, f, 'content hash mismatch (source changed during send?)'); return; }
      if (this.displaceDir.has(object) && !this.mirror.remove(entry.path)) throw new Error('a directory that could not be removed is in the way');
      this.mirror.backupReplaced(entry.path);
      // owner (it clears setuid/setgid), mode, mtime, close, rename: one call
      const [sec, nsec] = splitNs(entry.mtimeNs);
      const fd = f.fd;
      f.fd = -1; // closed by commitFile, whatever happens
      const r = native.commitFile(fd, this.owner, entry.uid, entry.gid, entry.mode, sec, nsec, f.dirfd, f.tmp!, baseOf(entry.path));
      if (r < 0) throw errnoError(-r & 0xffff, COMMIT_STEPS[(-r >> 16) - 1] ?? 'commit', entry.path);
      f.tmp = null;
      this.closeDir(f);
      f.phase = 'committed';
      // Done goes now if the master already asked (its EOF found us verifying);
      // otherwise it answers the EOF that is on its way (the master sends it
      // right after the last page): one Done per file, not one that crosses
      // the EOF and another in reply to it
      if (f.eofSeen) this.replyDone(object, f);
    } catch (e) {
      this.fail(object, f, `cannot commit: ${errText(e)}`);
    }
  }

  private onSegment(k: number, h: Buffer): void {
    const sg = this.segs.get(k);
    if (!sg || sg.phase !== 'receiving') return;
    sg.phase = 'verifying';
    this.loop.closeSink(SEG_BASE + k);
    try {
      if (!h.equals(sg.hash)) throw new Error('manifest segment hash mismatch');
      sg.bytes = Buffer.alloc(sg.size);
      fs.readSync(sg.fd, sg.bytes, 0, sg.bytes.length, 0);
      fs.closeSync(sg.fd);
      sg.phase = 'verified';
    } catch (e) {
      sg.phase = 'failed';
      emit({ t: 'fatal', msg: (e as Error).message });
      return;
    }
    this.drainSegments();
  }

  private planning = false; // a segment is being planned, a slice per turn

  /**
   * Decode and plan the segments that have arrived, in order; report each
   * one's needs. A segment is planned PLAN_SLICE entries per turn of the
   * event loop: the OPENs and EOFs of files already on their way are answered
   * in between (the master sends no file's pages before every target has
   * acknowledged its OPEN), instead of waiting for thousands of lookups.
   */
  private drainSegments(): void {
    if (this.planning || this.closed) return;
    const sg = this.segs.get(this.nextSeg);
    if (!sg || sg.phase !== 'verified') return;
    const k = this.nextSeg;
    let first: number;
    let count: number;
    try {
      const m = decodeManifest(sg.bytes!, this.entries);
      first = m.first;
      count = m.length;
    } catch (e) {
      sg.phase = 'failed';
      emit({ t: 'fatal', msg: (e as Error).message });
      return;
    }
    sg.bytes = undefined;
    this.planning = true;
    let at = first;
    const slice = (): void => {
      if (this.closed) return;
      const end = Math.min(first + count, at + PLAN_SLICE);
      try {
        this.planRange(at, end); // an entry's failure is that entry's (planEntries); this is for the rest
      } catch (e) {
        sg.phase = 'failed';
        emit({ t: 'fatal', msg: `internal: planning failed: ${(e as Error).stack ?? e}` });
        return;
      }
      at = end;
      if (at < first + count) { setImmediate(slice); return; }
      if (this.dry) this.flushItems();
      const mine = new BitSet();
      for (let i = first; i < first + count; i++) if (this.needs.get(objectOf(i))) mine.set(i - first, 1);
      sg.phase = 'done';
      this.nextSeg++;
      this.planning = false;
      emit({ t: 'needs', seg: k, first, bitmap: mine.toString(16), count: mine.cardinality(), local: this.counts });
      this.drainSegments();
    };
    slice();
  }

  private flushItems(): void {
    for (let i = 0; i < this.items.length; i += 1000) emit({ t: 'itemize', lines: this.items.slice(i, i + 1000) });
    this.items = [];
  }

  // ---- local steps: everything that needs no data ----

  private safeDirs = new Set<string>(['.']);

  private lookup: Lookup | null = null; // while a segment is planned

  private planRange(from: number, to: number): void {
    this.lookup = this.tree.lookup();
    try {
      this.planEntries(from, to);
    } finally {
      this.lookup.close();
      this.lookup = null;
    }
  }

  private planEntries(from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const e = this.entries.get(i);
      const key = e.path.toString('latin1');
      if (!this.safeDirs.has(parentOf(e.path).toString('latin1'))) {
        this.localFail(i, 'parent directory missing or not a directory on the target');
        continue;
      }
      try {
        const have = this.dryHave(e.path);
        if (this.dry && e.kind === Kind.Dir && have?.kind !== 'dir') this.dryAbsent.add(i === 0 ? '.' : key);
        if (i === 0 && ((e.flags ?? 0) & Flag.Implied) && have?.kind === 'dir') {
          // only a list is sent: the root is where it goes, its own metadata is left alone
          this.counts.kept++;
          this.safeDirs.add('.');
          if (!this.dry) this.stale += this.removeStaleTemps(e.path);
          continue;
        }
        const po: PlanOptions = { owner: this.owner };
        if (e.hash && have?.kind === 'file' && have.size === e.size) {
          po.sameContent = this.tree.contentHash(e.path, have)?.equals(e.hash) ?? false;
        }
        let d: Decision = decide(e, have, po);
        if (d.do === 'conflict') {
          this.lookup?.close(); // directories may go: look them up afresh
          if (this.sync.delete && e.kind === Kind.File && e.size > 0) {
            // the directory in the way goes when its replacement has arrived (commit)
            this.displaceDir.add(objectOf(i));
            if (this.dry) this.mirror.remove(e.path);
          } else if (this.sync.delete) {
            if (!this.mirror.remove(e.path)) { this.localFail(i, `${d.why} and could not be removed`); continue; }
          } else if (!this.dry) {
            try {
              this.tree.at(e.path, (p) => fs.rmdirSync(p));
            } catch (err) {
              this.localFail(i, `${d.why}: ${errText(err)} (not removed without --delete)`);
              continue;
            }
          }
          d = decide(e, null, po);
        }
        const code = itemCode(e, have, d, po);
        if (code && e.kind !== Kind.Hardlink) this.item(code, e.path, e.kind === Kind.Dir ? (isRootPath(e.path) ? '' : '/') : e.kind === Kind.Symlink ? ` -> ${display(e.link!)}` : '');
        if (this.dry) {
          if (d.do === 'data') this.needs.set(objectOf(i), 1);
          if ((d.do === 'data' || d.do === 'empty' || d.do === 'symlink') && have && have.kind !== 'dir') this.mirror.backupReplaced(e.path);
          if (e.kind === Kind.Hardlink) this.dryLink(i, e);
        } else {
          this.apply(i, e, d);
        }
        if (e.kind === Kind.Dir) {
          this.safeDirs.add(i === 0 ? '.' : key);
          if (!this.dry && have?.kind === 'dir') this.stale += this.removeStaleTemps(e.path);
        }
      } catch (err) {
        this.localFail(i, errText(err));
      }
    }
  }

  private stale = 0;

  private dryAbsent = new Set<string>(); // -n: directories that would be made

  /** What the target has at rel; with -n, nothing under a directory that would be made. */
  private dryHave(rel: Buffer): ReturnType<typeof lstatHave> {
    if (this.dryAbsent.has(parentOf(rel).toString('latin1'))) return null;
    return this.lookup ? this.lookup.have(rel) : this.tree.at(rel, lstatHave);
  }

  /** -n: a hardlink is itemized unless the target already has it linked to its leader. */
  private dryLink(i: number, e: Entry): void {
    const have = this.dryHave(e.path);
    const lead = this.dryHave(this.entries.path(e.leader!));
    if (have && lead && have.ino === lead.ino && have.dev === lead.dev && !this.needs.get(objectOf(e.leader!))) return;
    this.item('hf+++++++++', e.path, ` => ${display(this.entries.path(e.leader!))}`);
    if (have && have.kind !== 'dir') this.mirror.backupReplaced(e.path);
  }

  /** Temp files a killed catcher left in directory rel: removed before this run writes there. */
  private removeStaleTemps(rel: Buffer): number {
    let n = 0;
    for (const name of this.tree.list(rel)) {
      if (!isTempName(name)) continue;
      const child = rel.length === 1 && rel[0] === 0x2e ? name : Buffer.concat([rel, Buffer.from('/'), name]);
      try {
        this.tree.at(child, (p) => fs.unlinkSync(p));
        n++;
      } catch { /* gone, or a directory: left alone */ }
    }
    return n;
  }

  private localFail(i: number, why: string): void {
    this.failed.set(i, why);
    this.counts.failed++;
  }

  private apply(i: number, e: Entry, d: Decision): void {
    switch (d.do) {
      case 'keep':
        this.counts.kept++;
        return;
      case 'meta':
        this.counts.meta++;
        if (e.kind === Kind.Dir) return; // directory metadata is set at the end
        if (e.kind === Kind.Symlink) {
          this.tree.at(e.path, (p) => {
            if (this.owner) fs.lchownSync(p, e.uid, e.gid);
            setMtime(p, e.mtimeNs);
          });
        } else {
          this.setMeta(e, 'file');
        }
        return;
      case 'mkdir':
        if (d.clear) { this.mirror.backupReplaced(e.path); this.tree.at(e.path, (p) => fs.unlinkSync(p)); }
        this.tree.at(e.path, (p) => fs.mkdirSync(p, 0o700));
        this.counts.dirs++;
        return;
      case 'symlink':
        this.viaTemp(e.path, (tmp) => {
          fs.symlinkSync(e.link!, tmp);
          if (this.owner) fs.lchownSync(tmp, e.uid, e.gid);
          setMtime(tmp, e.mtimeNs);
        });
        this.counts.symlinks++;
        return;
      case 'empty':
        this.viaTemp(e.path, (tmp) => {
          const fd = fs.openSync(tmp, 'wx', 0o600);
          try {
            if (this.owner) fs.fchownSync(fd, e.uid, e.gid);
            fs.fchmodSync(fd, e.mode);
            setMtime(fd, e.mtimeNs);
          } finally {
            fs.closeSync(fd);
          }
        });
        this.counts.empty++;
        return;
      case 'data':
        this.needs.set(objectOf(i), 1);
        return;
      case 'link':
        this.deferredLinks.push(i);
        return;
      case 'conflict':
        throw new Error(d.why);
    }
  }

  /** Make the entry under a temp name beside its final name, then rename it over: never a half-made entry at a final name. */
  private viaTemp(rel: Buffer, make: (tmp: Buffer) => void): void {
    this.tree.at(rel, (fin, sib) => {
      const tmp = sib(tempName(rel));
      try {
        make(tmp);
        this.mirror.backupReplaced(rel);
        fs.renameSync(tmp, fin);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
      }
    });
  }

  /** --delete (itemized only with -n), and what it and -b did, into the counts. */
  private deleteExtraneous(): void {
    if (this.sync.delete) this.mirror.deleteExtraneous(this.entries, (i) => this.failed.has(i));
    this.counts.deleted = this.mirror.deleted;
    this.counts.backedUp = this.mirror.backedUp;
  }

  /** Owner, mode and mtime of a file or directory, through its own inode (beneath.ts self). */
  private setMeta(e: Entry, kind: 'file' | 'dir'): void {
    this.tree.self(e.path, kind, (p) => {
      // chown clears setuid/setgid: owner first, then mode
      if (this.owner) fs.chownSync(p, e.uid, e.gid);
      fs.chmodSync(p, e.mode);
      setMtime(p, e.mtimeNs, false);
    });
  }

  /** After the data phase: hardlinks to their (now final) leaders, then directory metadata, deepest first. */
  finish(aborted: number[]): void {
    if (this.dry) {
      this.deleteExtraneous();
      this.flushItems();
      emit({ t: 'result', ok: this.failed.size === 0, failed: [...this.failed].map(([entry, error]) => ({ entry, error })), local: this.counts });
      return;
    }
    const abortedSet = new Set(aborted);
    for (const i of this.deferredLinks) {
      const e = this.entries.get(i);
      const leader = e.leader!;
      const lf = this.files.get(objectOf(leader));
      if (this.failed.has(leader) || abortedSet.has(objectOf(leader)) || (lf && lf.phase !== 'committed')) {
        this.localFail(i, 'hardlink leader not delivered');
        continue;
      }
      try {
        const leaderPath = this.entries.path(leader);
        const have = this.tree.at(e.path, lstatHave);
        const lead = this.tree.at(leaderPath, lstatHave);
        if (!lead || lead.kind !== 'file') { this.localFail(i, 'hardlink leader missing'); continue; }
        if (have && have.ino === lead.ino && have.dev === lead.dev) { this.counts.kept++; continue; }
        // link(2) does not follow the leader's final component; its directory is verified like any other
        this.tree.at(leaderPath, (src) => this.viaTemp(e.path, (tmp) => fs.linkSync(src, tmp)));
        this.counts.links++;
      } catch (err) {
        this.localFail(i, errText(err));
      }
    }
    this.deleteExtraneous();
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries.get(i);
      if (e.kind !== Kind.Dir || this.failed.has(i)) continue;
      if (i === 0 && ((e.flags ?? 0) & Flag.Implied)) continue;
      try {
        this.setMeta(e, 'dir');
      } catch (err) {
        this.localFail(i, errText(err));
      }
    }
    if (this.stale) emit({ t: 'log', level: 'warn', msg: `removed ${this.stale} temp file(s) left by an earlier, interrupted run` });
    const failed = [...this.failed].map(([entry, error]) => ({ entry, error }));
    for (const [object, f] of this.files) {
      if (f.phase !== 'committed') failed.push({ entry: entryOf(object), error: f.error ?? 'not delivered' });
    }
    for (const object of this.needs.toArray()) {
      if (!this.files.has(object)) failed.push({ entry: entryOf(object), error: abortedSet.has(object) ? 'aborted by master' : 'not delivered' });
    }
    const st = this.loop.stats();
    const packets = { badAuth: st.badAuth, badFormat: st.badFormat, duplicates: st.dataDup, rebuilt: st.fecRecovered };
    emit({ t: 'result', ok: failed.length === 0, failed, local: this.counts, packets, usage: usageNow() });
  }

  /** stdin closed or a signal: remove every temp file, stop the loop. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [object, f] of this.files) {
      this.loop?.closeSink(object);
      if (f.phase !== 'committed') this.discard(f, object);
    }
    for (const [, sg] of this.segs) if (sg.phase === 'receiving' || sg.phase === 'verifying') { try { fs.closeSync(sg.fd); } catch { /* closed */ } }
    if (this.statTimer) clearInterval(this.statTimer);
    this.loop?.stop();
    this.mirror?.close();
    this.tree?.close();
  }
}

function isRootPath(p: Buffer): boolean {
  return p.length === 1 && p[0] === 0x2e;
}

function errnoName(n: number): string {
  for (const [k, v] of Object.entries(os.constants.errno)) if (v === n) return k;
  return `errno ${n}`;
}

/** Entry point of bin/multicatcher: session on stdin, lines on stdout. */
export function catcherMain(): void {
  serveChannel((header) => {
    const c = new Catcher(validateSession(header));
    c.start();
    return {
      line: (m) => {
        const msg = m as MasterLine;
        if (msg && msg.t === 'finish') c.finish(Array.isArray(msg.aborted) ? msg.aborted : []);
        else if (msg && msg.t === 'segment') c.onSegmentLine(msg.k, msg.size, msg.hash);
      },
      shutdown: () => c.shutdown(),
    };
  });
}
