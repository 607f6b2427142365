// Which files go out, and when: the queue of files some target needs (in
// manifest order, as segments are planned), opened one by one while the
// window of files in flight has room, beneath the source root and checked
// against the scan (source.ts), small ones next to each other read into a
// pack that goes out as one flow (pack.ts); and the catch-up round of the
// targets set aside as slow.
import fs from 'node:fs';
import { Logger } from '../operator/log';
import { entryOf } from '../wire/manifest';
import { display } from '../wire/paths';
import { MAX_PAGES, pagesOf } from '../wire/runs';
import { PACK_BYTES, PACK_FILES, PACK_FILE_MAX, encodePackHeader, packHeaderLen } from '../wire/pack';
import { Segments } from './segments';
import { PackFile, Sender } from './sender';
import { openFileBeneath, readSmallFiles, sendFailure } from './source';
import { Target, Targets } from './targets';
import { MrsyncError, describe } from '../errors';

export class Window {
  private queue: number[] = [];              // files still to open, in order
  private at = 0;                            // the next of them
  private catchupNeeders = new Map<number, number[]>();
  files = 0;                                 // files opened and sent (each once: not again in the catch-up)
  bytes = 0;
  filesPlanned = 0;                          // files some target needs, as planned so far
  bytesPlanned = 0;

  constructor(private readonly sender: Sender, private readonly targets: Targets, private readonly segs: Segments,
    private readonly srcFd: number, private readonly pageSize: number, private readonly log: Logger) {}

  /** A file opened to send (sign -1: not sent after all): counted once, not again in the catch-up. */
  private count(size: number, sign: 1 | -1): void {
    if (this.sender.catchup) return;
    this.files += sign;
    this.bytes += sign * size;
  }

  /** Files that a segment's plan says some target needs: they join the queue. */
  plan(objects: number[]): void {
    for (const obj of objects) {
      this.queue.push(obj);
      this.filesPlanned++;
      this.bytesPlanned += this.segs.entries.size(entryOf(obj));
    }
  }

  /** The set-aside targets get their deferred files, alone, at their pace. */
  startCatchup(behind: Target[]): void {
    this.sender.catchup = true;
    for (const t of behind) {
      this.log.info(`catching up ${t.deferred.length} files`, { host: t.host });
      t.slow = false;
      for (const obj of t.deferred) {
        if (!this.catchupNeeders.has(obj)) { this.catchupNeeders.set(obj, []); this.queue.push(obj); }
        this.catchupNeeders.get(obj)!.push(t.idx + 1);
      }
      t.deferred = [];
    }
  }

  /** The scan is over and every file it found to send has been opened (the flows in flight are the last). */
  nothingLeftToOpen(): boolean {
    return this.segs.settled && this.at >= this.queue.length;
  }

  /** -q: nothing more is opened. */
  clear(): void {
    this.queue = [];
    this.at = 0;
  }

  /**
   * Open files while the window has room: a small one with the small ones
   * after it in the queue as a pack (if there are any), others one by one.
   */
  fill(): void {
    while (this.sender.room && this.at < this.queue.length) {
      const obj = this.take();
      const needers = this.needersOf(obj);
      if (!needers.length) continue;
      const size = this.segs.entries.size(entryOf(obj));
      if (!packable(size)) { this.open(obj, needers); continue; }
      const files = [{ obj, needers }];
      let contents = size;
      while (files.length < PACK_FILES && this.at < this.queue.length) {
        const next = this.queue[this.at];
        const nextSize = this.segs.entries.size(entryOf(next));
        if (!packable(nextSize) || packHeaderLen(files.length + 1) + contents + nextSize > PACK_BYTES) break;
        this.take();
        const n = this.needersOf(next);
        if (!n.length) continue;
        files.push({ obj: next, needers: n });
        contents += nextSize;
      }
      if (files.length === 1) this.open(obj, needers);
      else this.openPack(files);
    }
  }

  /** The next file of the queue (which is trimmed now and then). */
  private take(): number {
    const obj = this.queue[this.at++];
    if (this.at > 4096 && this.at * 2 > this.queue.length) { this.queue = this.queue.slice(this.at); this.at = 0; }
    return obj;
  }

  /** The targets (ids) that get obj now; a target set aside as slow gets it in the catch-up instead. */
  private needersOf(obj: number): number[] {
    if (this.sender.catchup) return (this.catchupNeeders.get(obj) ?? []).filter((n) => this.targets.live(this.targets.list[n - 1]));
    const needers: number[] = [];
    for (const t of this.targets.list) {
      if (t.state !== 'active' || !t.needs?.get(obj)) continue;
      if (t.slow) t.deferred.push(obj); // set aside: it gets this one in the catch-up
      else needers.push(t.idx + 1);
    }
    return needers;
  }

  /**
   * Small files into one pack (pack.ts), each opened beneath the source root
   * and checked against the scan as one alone is, read whole, and checked
   * again after the read: one written meanwhile (its ctime moved) is not
   * sent, as the first pass of a file written during it is not committed.
   * The pack (a header naming them, then their contents) is held in memory
   * (a Buffer the native sender reads its pages from) and sent as one flow.
   */
  private openPack(files: Array<{ obj: number; needers: number[] }>): void {
    const packed: PackFile[] = [];
    const small = files.map(({ obj }) => {
      const i = entryOf(obj);
      return { rel: this.segs.entries.path(i), size: this.segs.entries.size(i), entry: i };
    });
    const { contents, results } = readSmallFiles(this.srcFd, small, this.segs.ids);
    results.forEach((r, k) => {
      const { obj, needers } = files[k];
      if ('error' in r) { this.notSent(obj, small[k].rel, needers, r.error); return; }
      const live = needers.filter((n) => this.targets.live(this.targets.list[n - 1]));
      packed.push({ object: obj, entry: small[k].entry, size: small[k].size, needers: live });
      this.count(small[k].size, 1);
    });
    if (!packed.length) return;
    this.sender.startPack(Buffer.concat([encodePackHeader(packed.map((f) => f.object)), contents]), packed);
  }

  /** Open a file beneath the source root, checked against the scan (source.ts), and start its flow. */
  private open(obj: number, needers: number[]): void {
    const i = entryOf(obj);
    const rel = this.segs.entries.path(i); // its path and size only: not the whole entry decoded per file
    let fd = -1;
    try {
      const opened = openFileBeneath(this.srcFd, rel, { dev: this.segs.ids[2 * i], ino: this.segs.ids[2 * i + 1], size: this.segs.entries.size(i) });
      fd = opened.fd;
      const size = opened.mark.size;
      if (pagesOf(size, this.pageSize) > MAX_PAGES) {
        throw new MrsyncError('ERR_TOO_BIG', `too big: more than ${MAX_PAGES} pages of ${this.pageSize} bytes (raise --page-size)`);
      }
      const live = needers.filter((n) => this.targets.live(this.targets.list[n - 1]));
      // the OPEN names the file only (its size and metadata are the manifest's): the pages go out at once, the
      // native sender hashes them as it reads them, and the hash goes out in a signed Sums before the EOF
      this.sender.startFlow(obj, fd, size, live, i, opened.mark);
      this.count(size, 1);
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      this.notSent(obj, rel, needers, err);
    }
  }

  /** obj (at rel) could not be opened or read for sending: reported, and counted for the targets that needed it. */
  private notSent(obj: number, rel: Buffer, needers: number[], err: unknown): void {
    const f = sendFailure(err);
    const name = display(rel);
    this.log.error(`${name}: ${f.message}`, { path: name });
    if (f.changed) this.sender.changed.push(name);
    // a file the master cannot read is the source's fault, not a target's: reported once, exit 23
    if (f.code === 'SOURCE_UNREADABLE') {
      this.sender.unreadable.push({ path: name, error: describe(err) });
      this.sender.unreadableObjs.add(obj);
    }
    for (const n of needers) {
      if (f.code !== 'SOURCE_UNREADABLE') this.targets.list[n - 1].failures.set(obj, { error: f.message, code: f.code });
      this.targets.list[n - 1].remaining--;
    }
  }
}

/** Whether a file of this size goes in a pack (an empty one needs no data: planned as such, it is never queued). */
const packable = (size: number): boolean => size > 0 && size <= PACK_FILE_MAX;
