// What makes a target end like `rsync -aH --delete [-b]` would leave it,
// beyond copying: backups of what is replaced or deleted, and the deletion of
// what the source does not have, with filters and backups protected. Every
// step goes through the verified tree (beneath.ts); with -n nothing is
// touched and every step is only itemized.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Beneath } from './beneath';
import { Filter } from '../wire/filter';
import { isHeld, isTempName, lstatHave } from './fsx';
import { EntryView, Flag, Kind } from '../wire/manifest';
import { baseOf, display, isRoot, parentOf } from '../wire/paths';
import { SyncParams } from '../wire/session';
import { describe, sysError } from '../errors';

export interface MirrorEvents {
  item(line: string): void;            // an itemized change (-n, and the log)
  warn(msg: string): void;
}

const join = (dir: Buffer, name: Buffer): Buffer => (isRoot(dir) ? name : Buffer.concat([dir, Buffer.from('/'), name]));

export class Mirror {
  readonly filter: Filter;
  deleted = 0;
  backedUp = 0;
  private backupTree: Beneath | null = null;
  private readonly backupRel: Buffer | null; // --backup-dir inside the target tree
  private readonly suffix: Buffer;

  constructor(private readonly tree: Beneath, private readonly s: SyncParams, private readonly dry: boolean,
    private readonly ev: MirrorEvents) {
    this.filter = Filter.of(s.filters);
    this.suffix = Buffer.from(s.backup?.suffix ?? '');
    this.backupRel = s.backup?.dir && !path.isAbsolute(s.backup.dir) ? Buffer.from(s.backup.dir) : null;
  }

  get backups(): boolean { return this.s.backup !== null; }

  close(): void { this.backupTree?.close(); }

  /** Entries rsync would protect from deletion: excluded ones, backups, the backup directory. */
  private protectedEntry(rel: Buffer, isDir: boolean): boolean {
    if (this.filter.excluded(rel, isDir)) return true;
    if (this.backupRel && (rel.equals(this.backupRel) || (rel.length > this.backupRel.length
      && rel[this.backupRel.length] === 0x2f && rel.subarray(0, this.backupRel.length).equals(this.backupRel)))) return true;
    if (this.s.backup && !this.s.backup.dir && this.suffix.length && !isDir) {
      const b = baseOf(rel);
      if (b.length > this.suffix.length && b.subarray(b.length - this.suffix.length).equals(this.suffix)) return true;
    }
    return false;
  }

  /** Where the backup of rel goes: [tree, relative path]; parents made (beneath that tree). */
  private backupTarget(rel: Buffer): [Beneath, Buffer] {
    const name = Buffer.concat([baseOf(rel), this.suffix]);
    if (name.length > 255) throw sysError(os.constants.errno.ENAMETOOLONG, 'backup', display(rel));
    const dir = this.s.backup!.dir;
    if (!dir) return [this.tree, join(parentOf(rel), name)];
    let t = this.tree;
    let under = parentOf(rel);
    if (this.backupRel) {
      under = isRoot(under) ? this.backupRel : Buffer.concat([this.backupRel, Buffer.from('/'), under]);
    } else {
      if (!this.backupTree) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        this.backupTree = Beneath.open(Buffer.from(dir));
      }
      t = this.backupTree;
    }
    if (!isRoot(under)) t.descend(under).close(); // mkdir -p, each step verified
    return [t, join(under, name)];
  }

  /**
   * rel is about to be replaced by a rename over it: keep its current version
   * as a backup first (a hard link, so the final name is never missing; an
   * older backup of the same name is replaced).
   */
  backupReplaced(rel: Buffer): void {
    if (!this.s.backup) return;
    const have = this.tree.at(rel, lstatHave);
    if (!have || have.kind === 'dir') return;
    this.backedUp++;
    if (this.dry) { this.ev.item(`*backup     ${display(rel)}`); return; }
    const [bt, brel] = this.backupTarget(rel);
    this.tree.at(rel, (cur) => bt.at(brel, (dst, sib) => {
      const tmp = sib(Buffer.from(`.${baseOf(brel).subarray(0, 200).toString('latin1')}.mrsync.bak`, 'latin1'));
      fs.rmSync(tmp, { force: true });
      fs.linkSync(cur, tmp);
      fs.renameSync(tmp, dst);
    }));
  }

  /** Remove rel (a whole tree if a directory), backing up files if asked; protected entries stay. True if it is gone. */
  remove(rel: Buffer): boolean {
    const have = this.tree.at(rel, lstatHave);
    if (!have) return true;
    if (have.kind === 'dir') {
      let kept = false;
      for (const name of this.tree.list(rel)) {
        const child = join(rel, name);
        const ch = this.tree.at(child, lstatHave);
        if (!ch) continue;
        if (this.protectedEntry(child, ch.kind === 'dir') || !this.remove(child)) kept = true;
      }
      if (kept) { this.ev.warn(`cannot delete non-empty directory: ${display(rel)}`); return false; }
      this.ev.item(`*deleting   ${display(rel)}/`);
      if (!this.dry) this.tree.at(rel, (p) => fs.rmdirSync(p));
      this.deleted++;
      return true;
    }
    this.ev.item(`*deleting   ${display(rel)}`);
    this.deleted++;
    if (this.s.backup) {
      this.backedUp++;
      if (!this.dry) {
        const [bt, brel] = this.backupTarget(rel);
        this.tree.at(rel, (cur) => bt.at(brel, (dst) => fs.renameSync(cur, dst)));
      }
      // with suffix backups in the same directory, the backup now stands where it was: keep the directory
      return this.s.backup.dir !== null;
    }
    if (!this.dry) this.tree.at(rel, (p) => fs.unlinkSync(p));
    return true;
  }

  /**
   * --delete, after the transfer: in every directory the manifest lists whole,
   * remove what it does not name, deepest directories first.
   */
  deleteExtraneous(entries: EntryView, skip: (i: number) => boolean): void {
    // the entries of each whole directory, by index (a directory comes before its entries)
    const dirIndex = new Map<string, number>();
    const children = new Map<number, number[]>();
    for (let i = 0; i < entries.length; i++) {
      const p = entries.path(i);
      if (i > 0) {
        const d = dirIndex.get(parentOf(p).toString('latin1'));
        if (d !== undefined) children.get(d)!.push(i);
      }
      if (entries.kind(i) === Kind.Dir && (entries.flags(i) & Flag.Whole)) {
        dirIndex.set(isRoot(p) ? '.' : p.toString('latin1'), i);
        children.set(i, []);
      }
    }
    const whole = [...children.keys()];
    for (let k = whole.length - 1; k >= 0; k--) {
      const i = whole[k];
      if (skip(i)) continue;
      const dir = entries.path(i);
      const names = new Set(children.get(i)!.map((c) => baseOf(entries.path(c)).toString('latin1')));
      let listing: Buffer[];
      try {
        const h = this.tree.at(dir, lstatHave);
        if (!h || h.kind !== 'dir') continue;
        listing = this.tree.list(dir);
      } catch (e) {
        this.ev.warn(`cannot list ${display(dir)} for --delete: ${describe(e)}`);
        continue;
      }
      for (const name of listing.sort(Buffer.compare)) {
        if (names.has(name.toString('latin1'))) continue;
        const rel = join(dir, name);
        try {
          const h = this.tree.at(rel, lstatHave);
          if (!h || this.protectedEntry(rel, h.kind === 'dir')) continue;
          // another push's catcher writing into this directory: its temp file is not extraneous
          if (h.kind === 'file' && isTempName(name) && this.tree.at(rel, isHeld)) continue;
          this.remove(rel);
        } catch (e) {
          this.ev.warn(`cannot delete ${display(rel)}: ${describe(e)}`);
        }
      }
    }
  }
}
