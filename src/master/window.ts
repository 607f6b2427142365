// Which files go out, and when: the queue of files some target needs (in
// manifest order, as segments are planned), opened one by one while the
// window of files in flight has room, beneath the source root and checked
// against the scan (source.ts); and the catch-up round of the targets set
// aside as slow.
import fs from 'node:fs';
import { Logger } from '../operator/log';
import { entryOf } from '../wire/manifest';
import { display } from '../wire/paths';
import { MAX_PAGES, pagesOf } from '../wire/runs';
import { Segments } from './segments';
import { Sender } from './sender';
import { openFileBeneath, sendFailure } from './source';
import { Target, Targets } from './targets';
import { MrsyncError, describe } from '../errors';

export class Window {
  private queue: number[] = [];              // files still to open, in order
  private at = 0;                            // the next of them
  private catchupNeeders = new Map<number, number[]>();
  files = 0;                                 // files opened and sent
  bytes = 0;
  filesPlanned = 0;                          // files some target needs, as planned so far
  bytesPlanned = 0;

  constructor(private readonly sender: Sender, private readonly targets: Targets, private readonly segs: Segments,
    private readonly srcFd: number, private readonly pageSize: number, private readonly log: Logger) {}

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

  /** Open files while the window has room. */
  fill(): void {
    while (this.sender.room && this.at < this.queue.length) {
      const obj = this.queue[this.at++];
      if (this.at > 4096 && this.at * 2 > this.queue.length) { this.queue = this.queue.slice(this.at); this.at = 0; }
      let needers: number[];
      if (this.sender.catchup) {
        needers = (this.catchupNeeders.get(obj) ?? []).filter((n) => this.targets.live(this.targets.list[n - 1]));
      } else {
        needers = [];
        for (const t of this.targets.list) {
          if (t.state !== 'active' || !t.needs?.get(obj)) continue;
          if (t.slow) t.deferred.push(obj); // set aside: it gets this one in the catch-up
          else needers.push(t.idx + 1);
        }
      }
      if (needers.length) this.open(obj, needers);
    }
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
      this.files++;
      this.bytes += size;
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
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
}
