// Everything a target does without data: each manifest entry compared with
// what the target has (plan.ts decides), and what needs no pages carried out
// at once (directories, symlinks, empty files, metadata, conflicts in the
// way); after the data, hardlinks, --delete and directory metadata. DiskLocal
// does it; DryLocal (-n) only itemizes what it would do, as rsync -n does.
import BitSet from 'bitset';
import fs from 'node:fs';
import { LocalCounts, SyncParams } from '../wire/session';
import { Entry, Flag, Kind, ManifestSet, objectOf } from '../wire/manifest';
import { display, parentOf } from '../wire/paths';
import { Beneath, Lookup } from './beneath';
import { isHeld, isTempName, lstatHave, setMtime, tempName as tempNameOf } from './fsx';
import { Mirror } from './mirror';
import { Decision, Have, PlanOptions, decide, itemCode } from './plan';
import { describe } from '../errors';
import { FailureCode } from '../errors';

const isRootPath = (p: Buffer): boolean => p.length === 1 && p[0] === 0x2e;
/** Directory entry i by path, as safeDirs and made hold it ('.': the root). */
const dirKey = (i: number, e: Entry): string => (i === 0 ? '.' : e.path.toString('latin1'));

export interface LocalEvents {
  item(line: string): void;
  warn(msg: string): void;
}

export abstract class Local {
  readonly needs = new BitSet();                    // objects whose data this target needs
  readonly failed = new Map<number, string>();      // entry -> error, for local steps
  readonly counts: LocalCounts = { dirs: 0, symlinks: 0, links: 0, empty: 0, meta: 0, kept: 0, failed: 0 };
  /** Objects whose final name holds a directory that --delete removes when the file is committed. */
  readonly displaceDir = new Set<number>();
  protected readonly safeDirs = new Set<string>(['.']);
  protected lookup: Lookup | null = null;           // while a slice of a segment is planned
  protected stale = 0;                              // temp files an interrupted run left, removed
  /**
   * Directories this push made (-n: would make), made mode 0700 (their own
   * mode comes at the end): nothing is in them but what this push puts
   * there, and each entry is planned once, so their entries are not looked
   * up (an empty target's plan is then no lstat per entry).
   */
  protected readonly made = new Set<string>();

  constructor(protected readonly tree: Beneath, protected readonly entries: ManifestSet, protected readonly sync: SyncParams,
    protected readonly owner: boolean, protected readonly mirror: Mirror, protected readonly ev: LocalEvents) {}

  /** Plan entries [from, to): each one's failure is its own (localFail); an exception here is the planner's. */
  planRange(from: number, to: number): void {
    this.lookup = this.tree.lookup();
    try {
      for (let i = from; i < to; i++) this.planEntry(i);
    } finally {
      this.lookup.close();
      this.lookup = null;
    }
  }

  /** The objects (first .. first + count) this target needs, as a bitmap over the segment's entries. */
  segmentNeeds(first: number, count: number): BitSet.BitSet {
    const mine = new BitSet();
    for (let i = first; i < first + count; i++) if (this.needs.get(objectOf(i))) mine.set(i - first, 1);
    return mine;
  }

  protected localFail(i: number, why: string): void {
    this.failed.set(i, why);
    this.counts.failed++;
  }

  private planEntry(i: number): void {
    const e = this.entries.get(i);
    const parent = parentOf(e.path).toString('latin1');
    if (!this.safeDirs.has(parent)) {
      this.localFail(i, 'parent directory missing or not a directory on the target');
      return;
    }
    try {
      const have = this.have(e.path, parent);
      this.sawEntry(i, e, have);
      if (i === 0 && ((e.flags ?? 0) & Flag.Implied) && have?.kind === 'dir') {
        // only a list is sent: the root is where it goes, its own metadata is left alone
        this.counts.kept++;
        this.safeDirs.add('.');
        this.staleIn(e.path);
        return;
      }
      const po: PlanOptions = { owner: this.owner };
      if (e.hash && have?.kind === 'file' && have.size === e.size) po.sameContent = this.tree.contentHash(e.path, have)?.equals(e.hash) ?? false;
      let d: Decision = decide(e, have, po);
      if (d.do === 'conflict') {
        this.lookup?.close(); // directories may go: look them up afresh
        const why = this.resolveConflict(i, e, d.why);
        if (why) { this.localFail(i, why); return; }
        d = decide(e, null, po);
      }
      const code = this.itemizes ? itemCode(e, have, d, po) : null;
      if (code && e.kind !== Kind.Hardlink) {
        this.itemize(`${code} ${isRootPath(e.path) ? './' : display(e.path)}${e.kind === Kind.Dir ? (isRootPath(e.path) ? '' : '/') : e.kind === Kind.Symlink ? ` -> ${display(e.link!)}` : ''}`);
      }
      this.carryOut(i, e, d, have);
      if (e.kind === Kind.Dir) {
        this.safeDirs.add(dirKey(i, e));
        if (have?.kind === 'dir') this.staleIn(e.path);
      }
    } catch (err) {
      this.localFail(i, describe(err));
    }
  }

  /** What the target has at rel (as the plan should see it): nothing under a directory this push made (parent: rel's, by path). */
  protected have(rel: Buffer, parent = parentOf(rel).toString('latin1')): Have | null {
    if (this.made.has(parent)) return null;
    return this.lookup ? this.lookup.have(rel) : this.tree.at(rel, lstatHave);
  }
  /** A planned entry and what is there, before it is decided. */
  protected sawEntry(_i: number, _e: Entry, _have: Have | null): void { /* a dry run remembers directories it would make */ }
  /** A directory is in the way of entry i: clear it, or say why not (the entry fails). */
  protected abstract resolveConflict(i: number, e: Entry, why: string): string | null;
  /** -n: every change is itemized (rsync --itemize-changes lines). */
  protected abstract readonly itemizes: boolean;
  protected abstract itemize(line: string): void;
  protected abstract carryOut(i: number, e: Entry, d: Decision, have: Have | null): void;
  /** Temp files left by a killed catcher in directory rel. */
  protected abstract staleIn(rel: Buffer): void;

  /**
   * After the data phase: hardlinks to their (now final) leaders, --delete,
   * directory metadata deepest first. delivered(object): false if the file's
   * data was being received and was not committed. The entries that failed,
   * with why.
   */
  abstract finish(delivered: (object: number) => boolean, keep: Set<number>): Array<{ entry: number; error: string; code: FailureCode }>;

  /**
   * --delete (itemized only with -n), and what it and -b did, into the
   * counts; not in the directories of keep (the master could not read all
   * they hold) nor in those that failed here.
   */
  protected deleteExtraneous(keep: Set<number>): void {
    if (this.sync.delete) this.mirror.deleteExtraneous(this.entries, (i) => this.failed.has(i) || keep.has(i));
    this.counts.deleted = this.mirror.deleted;
    this.counts.backedUp = this.mirror.backedUp;
  }

  protected failures(): Array<{ entry: number; error: string; code: FailureCode }> {
    return [...this.failed].map(([entry, error]) => ({ entry, error, code: 'LOCAL' as const }));
  }
}

/** Carries the plan out on the target's disk. */
export class DiskLocal extends Local {
  private deferredLinks: number[] = [];

  protected resolveConflict(i: number, e: Entry, why: string): string | null {
    if (this.sync.delete && e.kind === Kind.File && e.size > 0) {
      this.displaceDir.add(objectOf(i)); // the directory in the way goes when its replacement has arrived (commit)
      return null;
    }
    if (this.sync.delete) return this.mirror.remove(e.path) ? null : `${why} and could not be removed`;
    try {
      this.tree.at(e.path, (p) => fs.rmdirSync(p));
      return null;
    } catch (err) {
      return `${why}: ${describe(err)} (not removed without --delete)`;
    }
  }

  protected readonly itemizes = false;
  protected itemize(): void { /* only -n itemizes */ }

  /**
   * Temp files an interrupted run left in rel, removed: those no live
   * catcher holds (receive.ts locks each it writes; the lock ends with its
   * process), so that a push into the same directory at the same time keeps
   * the files it is writing.
   */
  protected staleIn(rel: Buffer): void {
    for (const name of this.tree.list(rel)) {
      if (!isTempName(name)) continue;
      const child = isRootPath(rel) ? name : Buffer.concat([rel, Buffer.from('/'), name]);
      try {
        this.tree.at(child, (p) => {
          if (isHeld(p)) return;
          fs.unlinkSync(p);
          this.stale++;
        });
      } catch { /* gone, a link or a directory: left alone */ }
    }
  }

  protected carryOut(i: number, e: Entry, d: Decision): void {
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
        this.made.add(dirKey(i, e));
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
      const tmp = sib(tempNameOf(rel));
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

  /** Owner, mode and mtime of a file or directory, through its own inode (beneath.ts self). */
  private setMeta(e: Entry, kind: 'file' | 'dir'): void {
    this.tree.self(e.path, kind, (p) => {
      // chown clears setuid/setgid: owner first, then mode
      if (this.owner) fs.chownSync(p, e.uid, e.gid);
      fs.chmodSync(p, e.mode);
      setMtime(p, e.mtimeNs, false);
    });
  }

  finish(delivered: (object: number) => boolean, keep: Set<number>): Array<{ entry: number; error: string; code: FailureCode }> {
    for (const i of this.deferredLinks) this.link(i, delivered);
    this.deleteExtraneous(keep);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries.get(i);
      if (e.kind !== Kind.Dir || this.failed.has(i)) continue;
      if (i === 0 && ((e.flags ?? 0) & Flag.Implied)) continue;
      try {
        this.setMeta(e, 'dir');
      } catch (err) {
        this.localFail(i, describe(err));
      }
    }
    if (this.stale) this.ev.warn(`removed ${this.stale} temp file(s) left by an earlier, interrupted run`);
    return this.failures();
  }

  /** Hardlink i to its leader, once the leader is final (delivered, or kept as it was). */
  private link(i: number, delivered: (object: number) => boolean): void {
    const e = this.entries.get(i);
    const leader = e.leader!;
    if (this.failed.has(leader) || !delivered(objectOf(leader))) {
      this.localFail(i, 'hardlink leader not delivered');
      return;
    }
    try {
      const leaderPath = this.entries.path(leader);
      const have = this.tree.at(e.path, lstatHave);
      const lead = this.tree.at(leaderPath, lstatHave);
      if (!lead || lead.kind !== 'file') { this.localFail(i, 'hardlink leader missing'); return; }
      if (have && have.ino === lead.ino && have.dev === lead.dev) { this.counts.kept++; return; }
      // link(2) does not follow the leader's final component; its directory is verified like any other
      this.tree.at(leaderPath, (src) => this.viaTemp(e.path, (tmp) => fs.linkSync(src, tmp)));
      this.counts.links++;
    } catch (err) {
      this.localFail(i, describe(err));
    }
  }
}

/** -n: decides and itemizes what DiskLocal would do; changes nothing. */
export class DryLocal extends Local {
  protected sawEntry(i: number, e: Entry, have: Have | null): void {
    if (e.kind === Kind.Dir && have?.kind !== 'dir') this.made.add(dirKey(i, e));
  }

  protected resolveConflict(i: number, e: Entry, why: string): string | null {
    if (this.sync.delete && e.kind === Kind.File && e.size > 0) {
      this.displaceDir.add(objectOf(i));
      this.mirror.remove(e.path); // itemized
      return null;
    }
    if (this.sync.delete) return this.mirror.remove(e.path) ? null : `${why} and could not be removed`;
    return null;
  }

  protected readonly itemizes = true;
  protected itemize(line: string): void { this.ev.item(line); }

  protected staleIn(): void { /* nothing is removed */ }

  protected carryOut(i: number, e: Entry, d: Decision, have: Have | null): void {
    if (d.do === 'data') this.needs.set(objectOf(i), 1);
    if ((d.do === 'data' || d.do === 'empty' || d.do === 'symlink') && have && have.kind !== 'dir') this.mirror.backupReplaced(e.path);
    if (e.kind === Kind.Hardlink) this.link(i, e);
  }

  /** A hardlink is itemized unless the target already has it linked to its leader. */
  private link(_i: number, e: Entry): void {
    const have = this.have(e.path);
    const lead = this.have(this.entries.path(e.leader!));
    if (have && lead && have.ino === lead.ino && have.dev === lead.dev && !this.needs.get(objectOf(e.leader!))) return;
    this.itemize(`hf+++++++++ ${display(e.path)} => ${display(this.entries.path(e.leader!))}`);
    if (have && have.kind !== 'dir') this.mirror.backupReplaced(e.path);
  }

  finish(_delivered: (object: number) => boolean, keep: Set<number>): Array<{ entry: number; error: string; code: FailureCode }> {
    this.deleteExtraneous(keep);
    return this.failures();
  }
}

