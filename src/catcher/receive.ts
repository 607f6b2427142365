// The file-system side of receiving a file: a temp file beside the final
// name (.NAME.mrsync.RANDOM, created O_EXCL beneath the target root) with
// its directory held open from creation to rename, then, once its content is
// checked, its last steps in one native call (owner, mode, mtime, close,
// rename over the final name); or its removal. receipt.ts decides when.
//
// The files created in one batch of the native loop's events (the OPENs of
// one datagram or a few, most of them in one directory) share their
// directory's descriptor, opened once in that batch (beneath the root, no
// symlink followed) and closed when the last of them is renamed or removed;
// a file created in a later batch opens its directory afresh, so a directory
// swapped for a symlink is never trusted past the batch that looked at it.
import fs from 'node:fs';
import { native } from '../native';
import { Entry } from '../wire/manifest';
import { baseOf, parentOf } from '../wire/paths';
import { Beneath, stepError } from './beneath';
import { lstatHave, splitNs, tempName } from './fsx';
import { Mirror } from './mirror';

const { O_RDWR, O_CREAT, O_EXCL } = fs.constants;
/** native.commitFile's steps, for its errors. */
const COMMIT_STEPS = ['fchown', 'fchmod', 'futimens', 'close', 'rename'];
/** native.placeFiles's steps. */
const PLACE_STEPS = ['open', 'write', ...COMMIT_STEPS];

/** A directory (O_PATH) that files being received are created and renamed in. */
interface Dir { key: string; fd: number; refs: number }

/** What failed for a file of a pack: its temp file, writing it, or its last steps. */
export type MemberStage = 'create' | 'write' | 'commit';

interface Incoming {
  entry: Entry;
  fd: number;     // the temp file
  dir: Dir;       // its directory, held from the temp file's creation to its rename
  tmp: Buffer;    // its name there
}

export class Receiving {
  private files = new Map<number, Incoming>();
  private turn = new Map<string, Dir>();     // directories opened in this batch of events, by path
  private readonly step = new Int32Array(1); // which of commitFile's steps failed

  constructor(private readonly tree: Beneath, private readonly mirror: Mirror, private readonly owner: boolean,
    private readonly removeFirst: boolean) {}

  /** A temp file for entry (object), of its size; its fd, to give the native sink. Throws with the reason. */
  create(object: number, entry: Entry): number {
    if (this.removeFirst) {
      // -X: make room first on a nearly full disk
      this.tree.at(entry.path, (final) => {
        const h = lstatHave(final);
        if (h && h.kind !== 'dir') fs.unlinkSync(final);
      });
    }
    const dir = this.parent(entry.path);
    const tmp = tempName(entry.path);
    const fd = native.openBeneath(dir.fd, tmp, O_RDWR | O_CREAT | O_EXCL, 0o600);
    if (fd < 0) {
      this.release(dir);
      throw stepError(-fd, 'open', entry.path);
    }
    // held while it is written: another push's catcher planning this directory leaves it alone (local.ts staleIn)
    native.lockTemp(fd);
    this.files.set(object, { entry, fd, dir, tmp });
    return fd; // the sink gives it its size
  }

  /**
   * The checked content goes to its final name: the old version backed up
   * (-b), a directory in the way removed (displace: --delete), owner (it
   * clears setuid/setgid), mode, mtime, close and rename in one call. Throws
   * with the reason (the temp file is then removed by discard()).
   */
  commit(object: number, displace: boolean): void {
    const f = this.files.get(object)!;
    const entry = f.entry;
    if (displace && !this.mirror.remove(entry.path)) throw new Error('a directory that could not be removed is in the way');
    this.mirror.backupReplaced(entry.path);
    const [sec, nsec] = splitNs(entry.mtimeNs);
    const fd = f.fd;
    f.fd = -1; // closed by commitFile, whatever happens
    const r = native.commitFile(fd, this.owner, entry.uid, entry.gid, entry.mode, sec, nsec, f.dir.fd, f.tmp, baseOf(entry.path), this.step);
    if (r < 0) throw stepError(-r, COMMIT_STEPS[this.step[0] - 1] ?? 'commit', entry.path);
    this.files.delete(object);
    this.release(f.dir);
  }

  /**
   * Whether a checked file can take place()'s one native call: not when it
   * needs a step of its own first (-X, -b, a directory in the way).
   */
  placeable(displace: boolean): boolean {
    return !displace && !this.removeFirst && !this.mirror.backups;
  }

  /**
   * Small files whose content is checked already (a pack's members: entry,
   * and its bytes at offset in bytes), each through a temp file of its own
   * and committed as commit() does, in one native call for them all. Per
   * file: null (in place), or the failed step's error, with what failed: its
   * temp file ('create'), writing it ('write') or its last steps ('commit');
   * a failed file leaves no temp file.
   */
  place(files: { entry: Entry; offset: number; size: number }[], bytes: Buffer): ({ stage: MemberStage; error: Error } | null)[] {
    const meta = new Float64Array(10 * files.length);
    const names: Buffer[] = [];
    const dirs: Dir[] = [];
    const noDir = new Map<number, Error>(); // files whose directory could not be opened (a symlink swapped in)
    let at = 0;
    files.forEach((f, i) => {
      let dir: Dir;
      try {
        dir = this.parent(f.entry.path);
      } catch (e) {
        noDir.set(i, e as Error);
        // no directory (-1) and an empty name: the native call fails it at its first step, touching nothing
        meta[10 * i] = -1;
        return;
      }
      dirs.push(dir);
      const name = baseOf(f.entry.path);
      const [sec, nsec] = splitNs(f.entry.mtimeNs);
      meta.set([dir.fd, f.offset, f.size, f.entry.uid, f.entry.gid, f.entry.mode, sec, nsec, at, name.length], 10 * i);
      names.push(name);
      at += name.length;
    });
    const out = new Int32Array(2 * files.length);
    try {
      native.placeFiles(bytes, meta, Buffer.concat(names, at), this.owner, out);
    } finally {
      for (const d of dirs) this.release(d);
    }
    return files.map((f, i) => {
      const dirError = noDir.get(i);
      if (dirError) return { stage: 'create', error: dirError };
      const step = out[2 * i];
      if (step === 0) return null;
      const error = stepError(out[2 * i + 1], PLACE_STEPS[step - 1] ?? 'place', f.entry.path);
      return { stage: step === 1 ? 'create' : step === 2 ? 'write' : 'commit', error };
    });
  }

  /** Remove the temp file of object (if any) and let go of its descriptors. */
  discard(object: number): void {
    const f = this.files.get(object);
    if (!f) return;
    this.files.delete(object);
    if (f.fd >= 0) { try { fs.closeSync(f.fd); } catch { /* closed */ } }
    try { fs.unlinkSync(Buffer.concat([Buffer.from(`/proc/self/fd/${f.dir.fd}/`), f.tmp])); } catch { /* gone */ }
    this.release(f.dir);
  }

  /** The batch of events is over: the files of the next one look their directories up again. */
  endTurn(): void {
    this.turn.clear();
  }

  /** rel's parent directory: the one this batch opened, or opened now (verified beneath the root) for this batch's files. */
  private parent(rel: Buffer): Dir {
    const key = parentOf(rel).toString('latin1');
    let d = this.turn.get(key);
    if (!d) {
      d = { key, fd: this.tree.parentFd(rel), refs: 0 };
      this.turn.set(key, d);
    }
    d.refs++;
    return d;
  }

  /** A file is done with its directory: closed once no file holds it (and no longer this batch's). */
  private release(d: Dir): void {
    if (--d.refs > 0) return;
    if (this.turn.get(d.key) === d) this.turn.delete(d.key);
    try { fs.closeSync(d.fd); } catch { /* closed */ }
  }

  /** Every temp file still here (the catcher is ending). */
  discardAll(): void {
    for (const object of [...this.files.keys()]) this.discard(object);
  }
}
