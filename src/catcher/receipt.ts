// The catcher's receipt machine: what it does as a file or a manifest
// segment arrives, one event at a time, with no I/O (the catcher carries out
// its actions and feeds back their results), so it is tested without sockets
// or files, as flow.ts is on the master side.
//
// A file: the master's OPEN (if this target needs it and is asked) makes a
// temp file and a sink; the pages arrive natively, which hash them in order;
// when the last one is in, the digest is checked against the master's signed
// hash (a Sums, which may come before or after) and the file is committed
// (owner, mode, times, rename), or fails. An EOF is answered with what is
// missing, NeedSum (every page is here, the signed hash is not), or Done.
// A pack of small files (pack.ts) is received as a file is, into a file in
// memory (its size comes with its OPEN); once its hash is checked, committing
// it is writing each of its files this target needs through a temp file of
// its own (memberCommitted, memberFailed: each file's outcome, as if it had
// come alone).
// A manifest segment: its size and hash come over this target's own channel
// (a 'segment' line); its OPEN waits for that line; once complete and
// checked, the catcher plans it.
import { SEG_BASE } from '../wire/manifest';
import { PACK_BASE, PACK_BYTES, isPack, packHeaderLen } from '../wire/pack';
import { FailureCode, failureIndex } from '../errors';
import { DoneCode, Msg } from '../wire/protocol';

export type FilePhase = 'receiving' | 'awaitHash' | 'committing' | 'committed' | 'failed';
export type SegmentPhase = 'receiving' | 'verified' | 'done' | 'failed';

export type ReceiptAction =
  | { a: 'reply'; type: Msg.OpenOk | Msg.Wait | Msg.NeedSum; object: number; index: number }
  | { a: 'done'; object: number; ok: boolean; code: number; message: string } // a Done datagram (code: its FailureCode's index)
  | { a: 'missing'; object: number; round: number }                 // the sink's missing runs (Wait if none)
  | { a: 'checkMissing'; object: number; k: number; from: number; to: number }
  | { a: 'create'; object: number; size?: number } // make the temp file (a pack's: of size) and its sink: then created() or failed()
  | { a: 'commit'; object: number }           // checked: commit it, then committed() or failed()
  | { a: 'discard'; object: number }          // close its sink, remove its temp file
  | { a: 'openSegment'; k: number; size: number } // the segment's sink: then segmentOpened() or fatal
  | { a: 'plan'; k: number }                  // a segment checked: decode and plan it
  | { a: 'fatal'; msg: string };

interface FileReceipt {
  phase: FilePhase;
  hash: Buffer | null;   // the master's SHA-256, from a signed Sums
  digest?: Buffer;       // what arrived, while the hash is awaited
  eofRound?: number;     // the round of the latest EOF that asked (none yet: undefined); once asked, a commit
                         // answers at once and a lost Sums is asked for at once
  error?: string;
  code?: FailureCode;
}

interface SegmentReceipt { phase: SegmentPhase; size: number; hash: Buffer; asked?: boolean } // asked: an EOF was answered Wait while planning

/** A file in these phases is still coming (its pages, or its hash): a pack's copy of it takes its place (supersede). */
const comingAlone = (phase: FilePhase): boolean => phase === 'receiving' || phase === 'awaitHash';

/** Segments more than this far ahead of the one being planned are ignored (a bound on what a forged OPEN can make us hold). */
const SEGMENTS_AHEAD = 4096;

export class Receipt {
  private files = new Map<number, FileReceipt>();
  private sums = new Map<number, Buffer>();    // signed hashes of files not opened yet (a set-aside target's)
  private segs = new Map<number, SegmentReceipt>();
  private segLines = new Map<number, { size: number; hash: Buffer }>();
  private segOpens = new Set<number>();        // OPENs that came before their channel line
  nextSeg = 0;                                 // the next segment to plan
  /**
   * Packs held at once at most: what this target told the master it can
   * receive at once (the master's window holds to it). A pack's OPEN names
   * no file of the manifest, so without a bound a holder of the session key
   * (another target) could make this one hold a pack for every object id it
   * cares to forge.
   */
  packLimit = Infinity;
  private packsHeld = 0;

  /** needs(object): whether this target needs the file's data (its plan said so). */
  constructor(private readonly needs: (object: number) => boolean) {}

  phase(object: number): FilePhase | undefined { return this.files.get(object)?.phase; }
  segmentPhase(k: number): SegmentPhase | undefined { return this.segs.get(k)?.phase; }

  // ---- files ----

  /** The master's OPEN of object; asked: this target is among those it awaits; size: a pack's (its OPEN's index). */
  open(object: number, asked: boolean, size = 0): ReceiptAction[] {
    if (!asked) return []; // the master has my answer
    if (object >= SEG_BASE) return this.openSegment(object - SEG_BASE);
    const pack = isPack(object);
    if (!pack && !this.needs(object)) return [];
    const f = this.files.get(object);
    if (f) return f.phase === 'committed' || f.phase === 'failed' ? [this.doneOf(object, f)] : [{ a: 'reply', type: Msg.OpenOk, object, index: 0 }];
    if (pack && (size < packHeaderLen(1) + 1 || size > PACK_BYTES)) return []; // not a pack the master makes
    if (pack && this.packsHeld >= this.packLimit) return []; // more than the master would send at once: not the master's
    if (pack) this.packsHeld++;
    this.files.set(object, { phase: 'receiving', hash: this.sums.get(object) ?? null });
    this.sums.delete(object);
    return [pack ? { a: 'create', object, size } : { a: 'create', object }];
  }

  /** The temp file and sink of object exist: the OPEN is acknowledged. */
  created(object: number): ReceiptAction[] {
    return this.files.get(object)?.phase === 'receiving' ? [{ a: 'reply', type: Msg.OpenOk, object, index: 0 }] : [];
  }

  /** An EOF of round; asked: this target is among those it awaits. */
  eof(object: number, round: number, asked: boolean): ReceiptAction[] {
    if (object >= SEG_BASE) return asked ? this.segmentEof(object, round) : [];
    const f = this.files.get(object);
    if (!f) return asked && (isPack(object) || this.needs(object)) ? [{ a: 'done', object, ok: false, code: failureIndex('NOT_OPENED'), message: 'not opened' }] : [];
    if (!asked) return [];
    f.eofRound = round;
    switch (f.phase) {
      case 'receiving': return [{ a: 'missing', object, round }];
      case 'awaitHash': return [{ a: 'reply', type: Msg.NeedSum, object, index: round }]; // its Sums was lost
      case 'committing': return [{ a: 'reply', type: Msg.Wait, object, index: round }];
      default: return [this.doneOf(object, f)];
    }
  }

  /** The master's signed hashes (already checked): a file waiting for its hash is checked now. */
  sumsIn(sums: Array<[number, Buffer]>): ReceiptAction[] {
    const out: ReceiptAction[] = [];
    for (const [object, hash] of sums) {
      const pack = isPack(object);
      if (!pack && !this.needs(object)) continue;
      const f = this.files.get(object);
      // kept for a file this target needs; not for a pack not opened here (it may not be for this target at all;
      // one whose OPEN was lost asks for its hash again: NeedSum)
      if (!f) { if (!pack) this.sums.set(object, hash); continue; }
      if (f.phase !== 'receiving' && f.phase !== 'awaitHash') continue;
      f.hash = hash; // the latest: a catch-up's first pass may have read the file anew
      if (f.phase === 'awaitHash') out.push(...this.check(object, f, f.digest!));
    }
    return out;
  }

  /** Every page of object is in; digest: their SHA-256. */
  complete(object: number, digest: Buffer): ReceiptAction[] {
    if (object >= SEG_BASE) return this.segmentComplete(object - SEG_BASE, digest);
    const f = this.files.get(object);
    if (!f || f.phase !== 'receiving') return [];
    if (!f.hash) {
      f.digest = digest;
      f.phase = 'awaitHash';
      // an EOF of it came, and the master sends a file's EOF only after its Sums: the Sums was lost. Asked for now,
      // not at the next EOF: one answered "wait" (every page in, the last ones not yet hashed) comes only after the
      // master's wait for verifying targets (busyRetryMs: 250 ms, which at a push's tail is 250 ms of the push)
      return f.eofRound !== undefined ? [{ a: 'reply', type: Msg.NeedSum, object, index: f.eofRound }] : [];
    }
    return this.check(object, f, digest);
  }

  /** A checkpoint k of a big file asks what is missing of [from, to). */
  checkpoint(object: number, k: number, from: number, to: number): ReceiptAction[] {
    return this.files.get(object)?.phase === 'receiving' ? [{ a: 'checkMissing', object, k, from, to }] : [];
  }

  /** The master's (signed) Abort: the file is dropped, unless it is committed. */
  abort(object: number): ReceiptAction[] {
    const f = this.files.get(object);
    if (!f || f.phase === 'committed') return [];
    this.release(object, f);
    this.files.delete(object);
    return [{ a: 'discard', object }];
  }

  committed(object: number): ReceiptAction[] {
    const f = this.files.get(object);
    if (!f || f.phase !== 'committing') return [];
    this.release(object, f);
    f.phase = 'committed';
    // Done goes now if the master already asked (its EOF found us committing);
    // otherwise it answers the EOF that is on its way (the master sends it
    // after the last page): one Done per file, not one that crosses the EOF
    // and another in reply to it
    return f.eofRound !== undefined ? [this.doneOf(object, f)] : [];
  }

  /** object failed on this target (temp file, write, commit, hash): its temp file goes, the master is told. */
  failed(object: number, why: string, code: FailureCode = 'FAILED'): ReceiptAction[] {
    const f = this.files.get(object);
    if (!f || f.phase === 'committed' || f.phase === 'failed') return [];
    this.release(object, f);
    f.phase = 'failed';
    f.error = why;
    f.code = code;
    return [{ a: 'discard', object }, this.doneOf(object, f)];
  }

  /** A pack leaves the phases that hold it (receiving, awaiting its hash, committing): one fewer held. */
  private release(object: number, f: FileReceipt): void {
    if (isPack(object) && (f.phase === 'receiving' || f.phase === 'awaitHash' || f.phase === 'committing')) this.packsHeld--;
  }

  /** The sink of object could not be written. */
  sinkError(object: number, errno: string): ReceiptAction[] {
    if (object >= SEG_BASE) return [{ a: 'fatal', msg: `cannot store the manifest: ${errno}` }];
    return this.failed(object, `write failed: ${errno}`, 'WRITE_FAILED');
  }

  /**
   * Whether this target writes file object of a pack: it needs it, and has
   * not had it otherwise (alone, or in an earlier pack: a set-aside target's
   * catch-up sends its files again) nor failed it. A copy of it still coming
   * alone does not count: a target set aside while a small file came alone
   * gets it in a pack in its catch-up, and the master takes that pack's Done
   * for the file (supersede drops the copy first).
   */
  wantsMember(object: number): boolean {
    if (object >= PACK_BASE || !this.needs(object)) return false;
    const phase = this.files.get(object)?.phase;
    return phase === undefined || comingAlone(phase);
  }

  /** A file of a pack about to be written that was coming alone too: that copy is dropped first (its sink, its temp file). */
  supersede(object: number): ReceiptAction[] {
    const phase = this.files.get(object)?.phase;
    if (phase === undefined || !comingAlone(phase)) return [];
    this.files.delete(object);
    return [{ a: 'discard', object }];
  }

  /** A file of a pack is committed here. */
  memberCommitted(object: number): void {
    this.files.set(object, { phase: 'committed', hash: null });
  }

  /** A file of a pack failed here: the master is told (the pack's own Done says the rest). */
  memberFailed(object: number, why: string, code: FailureCode): ReceiptAction[] {
    const f: FileReceipt = { phase: 'failed', hash: null, error: why, code };
    this.files.set(object, f);
    return [this.doneOf(object, f)];
  }

  /** Files (and packs) opened and not committed, with why (for the result, and to discard at the end). */
  unfinished(): Array<[number, string, FailureCode]> {
    const out: Array<[number, string, FailureCode]> = [];
    for (const [object, f] of this.files) if (f.phase !== 'committed') out.push([object, f.error ?? 'not delivered', f.code ?? 'NOT_DELIVERED']);
    return out;
  }

  opened(object: number): boolean { return this.files.has(object); }

  private check(object: number, f: FileReceipt, digest: Buffer): ReceiptAction[] {
    if (!digest.equals(f.hash!)) return this.failed(object, 'content hash mismatch (source changed during send?)', 'HASH_MISMATCH');
    f.phase = 'committing';
    return [{ a: 'commit', object }];
  }

  private doneOf(object: number, f: FileReceipt): ReceiptAction {
    const ok = f.phase === 'committed';
    return { a: 'done', object, ok, code: ok ? DoneCode.Ok : failureIndex(f.code ?? 'FAILED'), message: f.error ?? '' };
  }

  // ---- manifest segments ----

  /** The master's line for segment k: what it holds. */
  segmentLine(k: number, size: number, hash: Buffer): ReceiptAction[] {
    if (this.segLines.has(k)) return [];
    this.segLines.set(k, { size, hash });
    return this.segOpens.delete(k) ? this.startSegment(k) : [];
  }

  /** The segment's sink exists: the OPEN is acknowledged. */
  segmentOpened(k: number): ReceiptAction[] {
    return this.segs.get(k)?.phase === 'receiving' ? [{ a: 'reply', type: Msg.OpenOk, object: SEG_BASE + k, index: 0 }] : [];
  }

  /**
   * Segment k is planned (its needs reported). If the master's EOF came while
   * it was being planned (answered Wait), its Done goes now: the master would
   * otherwise learn it at its next EOF, up to a second later (the retry backs
   * off while targets answer Wait), asking every target again meanwhile.
   */
  segmentPlanned(k: number): ReceiptAction[] {
    const sg = this.segs.get(k);
    if (k === this.nextSeg) this.nextSeg++;
    if (!sg) return [];
    sg.phase = 'done';
    return sg.asked ? [{ a: 'done', object: SEG_BASE + k, ok: true, code: DoneCode.Ok, message: '' }] : [];
  }

  /** Segment k could not be decoded or planned. */
  segmentFailed(k: number): void {
    const sg = this.segs.get(k);
    if (sg) sg.phase = 'failed';
  }

  private openSegment(k: number): ReceiptAction[] {
    const sg = this.segs.get(k);
    if (sg) {
      return sg.phase === 'done' || sg.phase === 'failed'
        ? [{ a: 'done', object: SEG_BASE + k, ok: sg.phase === 'done', code: sg.phase === 'done' ? DoneCode.Ok : DoneCode.Failed, message: '' }]
        : [{ a: 'reply', type: Msg.OpenOk, object: SEG_BASE + k, index: 0 }];
    }
    if (this.segLines.has(k)) return this.startSegment(k);
    if (k <= this.nextSeg + SEGMENTS_AHEAD) this.segOpens.add(k);
    return [];
  }

  private startSegment(k: number): ReceiptAction[] {
    const { size, hash } = this.segLines.get(k)!;
    this.segs.set(k, { phase: 'receiving', size, hash });
    return [{ a: 'openSegment', k, size }];
  }

  private segmentEof(object: number, round: number): ReceiptAction[] {
    const sg = this.segs.get(object - SEG_BASE);
    if (!sg) return [];
    if (sg.phase === 'receiving') return [{ a: 'missing', object, round }];
    if (sg.phase === 'verified') { sg.asked = true; return [{ a: 'reply', type: Msg.Wait, object, index: round }]; }
    const ok = sg.phase === 'done';
    return [{ a: 'done', object, ok, code: ok ? DoneCode.Ok : DoneCode.Failed, message: ok ? '' : 'bad manifest' }];
  }

  private segmentComplete(k: number, digest: Buffer): ReceiptAction[] {
    const sg = this.segs.get(k);
    if (!sg || sg.phase !== 'receiving') return [];
    if (!digest.equals(sg.hash)) { sg.phase = 'failed'; return [{ a: 'fatal', msg: 'manifest segment hash mismatch' }]; }
    sg.phase = 'verified';
    return [{ a: 'plan', k }];
  }
}
