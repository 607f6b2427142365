// The scan of the source on the master: the tree walked into manifest
// segments (wire/manifest.ts encodes them), every directory and file read
// beneath its parent's descriptor (source.ts).
import fs from 'node:fs';
import { Filter } from '../wire/filter';
import { Entry, Flag, Kind, MAX_ENTRIES, Manifest, ManifestWriter, Selection, decodeManifest, hashFileSync } from '../wire/manifest';
import { MAX_PATH, display } from '../wire/paths';
import { MrsyncError, describe } from '../errors';
import { Listing, SourceStat, fstatOf, isDir, isFile, isSymlink, listDir, lstatAt, openDirAt, openFileBeneath, openRoot, readlinkAt } from './source';

const SLASH = Buffer.from('/');

export interface ScanOptions {
  filter?: Filter;
  select?: Selection;
  checksum?: boolean; // hash every file (for -c)
}

/** A source entry that could not be read: left out (or listed without its contents), as rsync does. */
export interface Unreadable { path: string; error: string }

export interface ScanResult { manifest: Manifest; skipped: string[]; bytes: number; unreadable: Unreadable[]; keep: number[] }

/**
 * A segment of the manifest as scanned, with the device and inode of each of
 * its entries (ids[2k], ids[2k+1]; 0 for all but files): what the master
 * checks a file against when it opens it for sending (source.ts).
 */
export type ScanStep = { segment: Buffer; ids: BigUint64Array } | { tick: true };
/** Entries in the first manifest segment (scanSegments). */
export const FIRST_SEGMENT = 64;
/**
 * unreadable: what could not be read; keep: the directory entries whose
 * listing is incomplete because of it (--delete must not remove anything in
 * them on the targets).
 */
export interface ScanTotals { skipped: string[]; bytes: number; entries: number; unreadable: Unreadable[]; keep: number[] }

/** An error of the system reading the source (not a bug): the entry is unreadable, the scan goes on. */
function readFailure(e: unknown): string | null {
  const x = e as NodeJS.ErrnoException;
  if (x instanceof MrsyncError && x.code === 'ERR_CHANGED') return x.message;
  return typeof x?.code === 'string' && /^E[A-Z0-9]+$/.test(x.code) ? describe(e) : null;
}

/**
 * Walk root (not following symlinks) into manifest segments, parents before
 * children, names in byte order; excluded entries (and everything under an
 * excluded directory) left out; with a selection, only the listed paths and
 * their parent directories. Yields segments of growing size (FIRST_SEGMENT
 * entries, four times that, ... up to segEntries) and a tick every 256
 * entries; answering a tick with true cuts the segment there (the caller's
 * clock says a segment has waited long enough). The first segments are small
 * because no file flows until every target has planned the segment that
 * lists it: a few dozen entries are planned at once, and the files they list
 * go out while the targets plan the next, bigger segments.
 *
 * Every directory is read through a descriptor opened beneath its parent's
 * (source.ts): a directory swapped for a symlink during the scan is not
 * followed out of the tree. An entry gone between the listing and its lstat
 * is left out, as if the listing had come a moment later. An entry that
 * cannot be read (EACCES, EIO) is left out, a directory that cannot be
 * listed goes without its contents, and both are counted in the totals'
 * unreadable, with the directories whose listing they leave incomplete in
 * keep (rsync's "some files could not be transferred").
 */
export function* scanSegments(root: Buffer, o: ScanOptions = {}, segEntries = 4096,
  firstEntries = FIRST_SEGMENT): Generator<ScanStep, ScanTotals, boolean | undefined> {
  const w = new ManifestWriter();
  let ids: bigint[] = [];
  let limit = Math.min(segEntries, firstEntries);
  const cut = (): ScanStep => {
    limit = Math.min(segEntries, limit * 4);
    const step = { segment: w.finish(), ids: BigUint64Array.from(ids) };
    ids = [];
    return step;
  };
  const skipped: string[] = [];
  const unreadable: Unreadable[] = [];
  const keep = new Set<number>();
  /** e, met reading rel: counted as unreadable, dir's listing incomplete; rethrown if it is not the system's. */
  const cannotRead = (rel: Buffer, e: unknown, dir: number): void => {
    const why = readFailure(e);
    if (why === null) throw e;
    unreadable.push({ path: display(rel), error: why });
    keep.add(dir);
  };
  const inodes = new Map<string, number>();
  let bytes = 0;
  let sinceTick = 0;
  /** Entry rel (name in dirfd, in directory entry dir); false if it could not be read and was left out. */
  function* add(rel: Buffer, dirfd: number, name: Buffer | null, st: SourceStat, flags: number, dir: number): Generator<ScanStep, boolean, boolean | undefined> {
    const base = { path: rel, size: 0, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeNs: st.mtimeNs };
    let dev = 0n, ino = 0n;
    if (isDir(st)) {
      w.push(flags ? { ...base, kind: Kind.Dir, flags } : { ...base, kind: Kind.Dir });
    } else if (isSymlink(st)) {
      let link: Buffer;
      try { link = readlinkAt(dirfd, name!); } catch (e) { cannotRead(rel, e, dir); return false; }
      w.push({ ...base, kind: Kind.Symlink, link });
    } else if (isFile(st)) {
      const key = `${st.dev}:${st.ino}`;
      const leader = st.nlink > 1 ? inodes.get(key) : undefined;
      if (leader !== undefined) {
        w.push({ ...base, kind: Kind.Hardlink, leader });
      } else {
        const e: Entry = { ...base, kind: Kind.File, size: st.size };
        if (o.checksum) {
          e.flags = Flag.Hash;
          let fd: number;
          try { fd = openFileBeneath(dirfd, name!, st).fd; } catch (err) { cannotRead(rel, err, dir); return false; }
          try { e.hash = hashFileSync(fd); } catch (err) { cannotRead(rel, err, dir); return false; } finally { fs.closeSync(fd); }
        }
        if (st.nlink > 1) inodes.set(key, w.first + w.length);
        w.push(e);
        dev = st.dev;
        ino = st.ino;
        bytes += st.size;
      }
    } else {
      skipped.push(display(rel));
      return false;
    }
    ids.push(dev, ino);
    if (w.length >= limit) {
      yield cut();
    } else if (++sinceTick >= 256) {
      sinceTick = 0;
      if ((yield { tick: true }) && w.length) yield cut();
    }
    return true;
  }
  // with a selection: 'listed' paths and the 'implied' directories above them
  const marks = new Map<string, 'listed' | 'implied'>();
  for (const p of o.select?.paths ?? []) {
    marks.set(p.toString('latin1'), 'listed');
    for (let i = p.indexOf(0x2f); i > 0; i = p.indexOf(0x2f, i + 1)) {
      const a = p.subarray(0, i).toString('latin1');
      if (!marks.has(a)) marks.set(a, 'implied');
    }
  }
  const recursive = o.select?.recursive ?? true;
  /** The directory rel, open as dirfd, entry dir of the manifest. */
  function* walk(rel: Buffer | null, dirfd: number, whole: boolean, dir: number): Generator<ScanStep, void, boolean | undefined> {
    // the whole directory: its entries and their lstat in one call; else the names, and lstat for the listed only
    let listing: Listing | null = null;
    let names: Buffer[];
    try {
      if (whole) names = (listing = Listing.of(dirfd, rel ?? Buffer.from('.'))).names;
      else names = listDir(dirfd).sort(Buffer.compare);
    } catch (e) {
      cannotRead(rel ?? Buffer.from('.'), e, dir);
      return;
    }
    for (let k = 0; k < names.length; k++) {
      const name = names[k];
      const r = rel ? Buffer.concat([rel, SLASH, name]) : name;
      const mark = whole ? 'listed' : marks.get(r.toString('latin1'));
      if (!mark) continue;
      if (r.length > MAX_PATH) {
        // no target could open it (nor what is under it): left out and named, as rsync does, and the rest sent
        unreadable.push({ path: display(r), error: `path too long (${r.length} bytes; at most ${MAX_PATH})` });
        keep.add(dir);
        continue;
      }
      let st: SourceStat;
      try {
        st = listing ? listing.stat(k, r) : lstatAt(dirfd, name, r);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        cannotRead(r, e, dir);
        continue;
      }
      const isdir = isDir(st);
      if (o.filter?.excluded(r, isdir)) continue;
      const all = isdir && (whole || (mark === 'listed' && recursive));
      const at = w.first + w.length; // the entry's index, if it is added
      if (!(yield* add(r, dirfd, name, st, all ? Flag.Whole : 0, dir))) continue;
      if (!all && !(isdir && mark === 'implied')) continue;
      let sub: number;
      try {
        sub = openDirAt(dirfd, name, st, r);
      } catch (e) {
        cannotRead(r, e, at); // listed without its contents
        continue;
      }
      try {
        yield* walk(r, sub, all, at);
      } finally {
        fs.closeSync(sub);
      }
    }
  }
  const rootFd = openRoot(root);
  try {
    const rst = fstatOf(rootFd);
    yield* add(Buffer.from('.'), rootFd, null, rst, o.select ? Flag.Implied : Flag.Whole, 0);
    yield* walk(null, rootFd, !o.select, 0);
  } finally {
    fs.closeSync(rootFd);
  }
  const entries = w.first + w.length;
  if (w.length) yield cut();
  if (entries > MAX_ENTRIES) throw new Error(`more than ${MAX_ENTRIES} entries`);
  return { skipped, bytes, entries, unreadable, keep: [...keep].sort((a, b) => a - b) };
}

/** The whole scan at once, as one manifest (tests, small trees). */
export function scan(root: Buffer, o: ScanOptions = {}): ScanResult {
  const gen = scanSegments(root, o, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  let seg: Buffer | null = null;
  for (;;) {
    const r = gen.next();
    if (r.done) return { manifest: decodeManifest(seg!), skipped: r.value.skipped, bytes: r.value.bytes, unreadable: r.value.unreadable, keep: r.value.keep };
    if ('segment' in r.value) seg = r.value.segment;
  }
}

