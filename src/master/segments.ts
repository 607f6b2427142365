// The manifest on the master: the scan of the source, streamed into
// segments as it runs (a slice of at most 50 ms per turn of the event loop),
// each segment kept as an anonymous file to be multicast like any file, and
// which targets have yet to report what they need of each. The scan records
// each file's device and inode (source.ts checks them when the file is sent).
import BitSet from 'bitset';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { anonymousFile, writeWhole } from '../tmpfile';
import { Filter } from '../wire/filter';
import { ManifestSet, Selection, decodeManifest, objectOf } from '../wire/manifest';
import { ScanStep, ScanTotals, scanSegments } from './scan';
import { CatcherLine } from '../wire/session';
import { nowMs } from '../clock';

/** Entries per manifest segment (about 200 KiB of manifest for typical names). */
const SEG_ENTRIES = Number(process.env.MRSYNC_TEST_SEG_ENTRIES) || 4096;
/** Test knob: pause the scan this long after each segment (to watch data flow while it runs). */
const SCAN_PAUSE_MS = Number(process.env.MRSYNC_TEST_SCAN_PAUSE_MS) || 0;

export interface Segment {
  fd: number;           // its bytes (an unlinked file), -1 once multicast and done
  size: number;
  hash: Buffer;         // SHA-256, sent over each target's channel
  first: number;        // its first entry
  count: number;
  union: BitSet.BitSet; // entries (first + j) some target needs the data of
  endedAt: number;      // when its multicast ended (ms), 0 before
}

export interface ScanEvents {
  segment(): void;             // a segment is ready to go out
  done(totals: ScanTotals): void;
  failed(e: Error): void;      // the scan could not go on (not the system's error: a bug, too many entries)
}

export class Segments {
  readonly entries = new ManifestSet();
  /** Device and inode of each file entry as scanned, two per entry. */
  ids = new BigUint64Array(0);
  readonly segs = new Map<number, Segment>();
  /** Made, not multicast yet (targets still launching). */
  readonly waiting: number[] = [];
  /** Segment -> targets (idx) yet to report its needs. */
  readonly planning = new Map<number, Set<number>>();
  scanDone = false;
  private readonly scanner: Generator<ScanStep, ScanTotals, boolean | undefined>;
  private started = nowMs();
  private stopped = false;

  constructor(src: Buffer, o: { filters: Filter; select?: Selection; checksum: boolean }, private readonly ev: ScanEvents) {
    this.scanner = scanSegments(src, { filter: o.filters, select: o.select, checksum: o.checksum }, SEG_ENTRIES);
  }

  /** Scan for up to 50 ms at a time; a segment is cut at SEG_ENTRIES entries or after waiting 200 ms. */
  pump(): void {
    if (this.stopped) return;
    const t0 = nowMs();
    try {
      let cut = false;
      while (nowMs() - t0 < 50) {
        const r = this.scanner.next(cut);
        cut = false;
        if (r.done) {
          this.scanDone = true;
          this.ev.done(r.value);
          return;
        }
        if ('segment' in r.value) {
          this.add(r.value.segment, r.value.ids);
          if (SCAN_PAUSE_MS) { setTimeout(() => this.pump(), SCAN_PAUSE_MS); return; }
        } else {
          cut = nowMs() - this.started > 200;
        }
      }
    } catch (e) {
      this.stopped = true;
      this.ev.failed(e as Error);
      return;
    }
    setImmediate(() => this.pump());
  }

  stop(): void {
    this.stopped = true;
    for (const [, sg] of this.segs) if (sg.fd >= 0) { try { fs.closeSync(sg.fd); } catch { /* closed */ } sg.fd = -1; }
  }

  private add(bytes: Buffer, ids: BigUint64Array): void {
    const m = decodeManifest(bytes, this.entries); // the master reads its manifest as the targets will
    if (this.ids.length < 2 * (m.first + m.length)) {
      const more = new BigUint64Array(Math.max(2 * (m.first + m.length), 2 * this.ids.length));
      more.set(this.ids);
      this.ids = more;
    }
    this.ids.set(ids, 2 * m.first);
    const k = this.segs.size;
    const fd = anonymousFile();
    writeWhole(fd, bytes);
    this.segs.set(k, {
      fd, size: bytes.length, hash: crypto.createHash('sha256').update(bytes).digest(), first: m.first, count: m.length,
      union: new BitSet(), endedAt: 0,
    });
    this.waiting.push(k);
    this.started = nowMs();
    this.ev.segment();
  }

  /**
   * A target's needs for a segment it was planning: the objects it needs
   * (a bitmap over the segment's entries), or 'bad' (a report that does not
   * fit the segment), or null (not expected: ignored).
   */
  needs(idx: number, l: Extract<CatcherLine, { t: 'needs' }>): number[] | 'bad' | null {
    const sg = this.segs.get(l.seg);
    const waiting = this.planning.get(l.seg);
    if (!sg || !waiting?.has(idx)) return null;
    const mine = typeof l.bitmap === 'string' && /^[0-9a-f]{1,}$/i.test(l.bitmap) ? BitSet.fromHexString(l.bitmap) : null;
    if (!mine || l.first !== sg.first || (!mine.isEmpty() && mine.msb() >= sg.count)) return 'bad';
    sg.union = sg.union.or(mine);
    waiting.delete(idx);
    return mine.toArray().map((j) => objectOf(sg.first + j));
  }

  /** Segments every live target has planned: their files some target needs, in order (each segment once). */
  takePlanned(live: (idx: number) => boolean): number[] {
    const out: number[] = [];
    for (const [k, waiting] of this.planning) {
      for (const idx of waiting) if (!live(idx)) waiting.delete(idx);
      if (waiting.size) continue;
      this.planning.delete(k);
      const sg = this.segs.get(k)!;
      for (const j of sg.union.toArray()) out.push(objectOf(sg.first + j));
    }
    return out;
  }

  /** The scan is over and every segment has been sent and planned. */
  get settled(): boolean {
    return this.scanDone && !this.waiting.length && !this.planning.size;
  }
}
