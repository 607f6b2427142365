// Reading the source tree on the master. A local user who can write inside
// -s can swap a directory for a symlink at any moment; were paths opened by
// name, the scan and the push would follow it out of the tree and send
// whatever it points to (a root-only directory) to every target. So every
// directory and file is opened beneath the one before it by descriptor, with
// openat2 (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: the kernel follows no
// symlink in any component), and what is opened is checked against what the
// scan recorded (same inode, still a regular file of the same size), with
// O_NONBLOCK so that a FIFO swapped in is refused instead of waited on.
import fs from 'node:fs';
import { native } from '../native';
import { display } from '../wire/paths';
import { FailureCode, MrsyncError, SysError, errnoName, sysError } from '../errors';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;
const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFLNK = 0o120000;

export interface SourceStat {
  mode: number;     // st_mode, type bits included
  size: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  ino: bigint;
  dev: bigint;
  nlink: number;
}

export const isDir = (st: SourceStat): boolean => (st.mode & S_IFMT) === S_IFDIR;
export const isFile = (st: SourceStat): boolean => (st.mode & S_IFMT) === S_IFREG;
export const isSymlink = (st: SourceStat): boolean => (st.mode & S_IFMT) === S_IFLNK;

/** The error of a read of rel that failed with errno (ELOOP and EXDEV: a symlink in the way). */
function sourceError(errno: number, syscall: string, rel: Buffer): SysError {
  const name = errnoName(errno);
  return sysError(errno, syscall, display(rel), name === 'ELOOP' || name === 'EXDEV' ? 'a symlink is in the way (a directory replaced by one?)' : undefined);
}

const buf = new Float64Array(13);

function statOf(r: number, syscall: string, rel: Buffer): SourceStat {
  if (r < 0) throw sourceError(-r, syscall, rel);
  return decodeStat(buf);
}

/** lstatAt's numbers (native fillStat) as a SourceStat. */
function decodeStat(o: Float64Array): SourceStat {
  return {
    mode: o[0], size: o[1], uid: o[2], gid: o[3], mtimeNs: BigInt(o[4]) * 1_000_000_000n + BigInt(o[5]),
    ino: (BigInt(o[6]) << 32n) | BigInt(o[7]), dev: (BigInt(o[8]) << 32n) | BigInt(o[9]), nlink: o[10],
  };
}

/** lstat of name (one component) in directory dirfd; rel names it in messages. */
export function lstatAt(dirfd: number, name: Buffer, rel: Buffer): SourceStat {
  return statOf(native.lstatAt(dirfd, name, buf), 'lstat', rel);
}

/** fstat of an open descriptor. */
export function fstatOf(fd: number): SourceStat {
  return statOf(native.fstatInto(fd, buf), 'fstat', Buffer.from(`fd ${fd}`));
}

/**
 * What tells a file being sent has changed: any write or unlink moves its
 * ctime (numbers, taken natively: once per file as it is opened and once
 * when it is done).
 */
export interface FileMark { size: number; mtimeS: number; mtimeNsec: number; ctimeS: number; ctimeNsec: number; nlink: number }

/** The mark of an open file; null if it cannot be read (closed). */
export function markOf(fd: number): FileMark | null {
  if (native.fstatInto(fd, buf) < 0) return null;
  return { size: buf[1], mtimeS: buf[4], mtimeNsec: buf[5], ctimeS: buf[11], ctimeNsec: buf[12], nlink: buf[10] };
}

/** Whether two marks of a file say the same content. */
export function sameMark(a: FileMark, b: FileMark): boolean {
  return a.size === b.size && a.mtimeS === b.mtimeS && a.mtimeNsec === b.mtimeNsec && a.ctimeS === b.ctimeS && a.ctimeNsec === b.ctimeNsec;
}

/** The source root, as the user named it (the last component is not followed: a symlink is not a directory). */
export function openRoot(root: Buffer): number {
  try {
    return fs.openSync(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'ELOOP') throw new Error('source is not a directory');
    throw e;
  }
}

function openBeneath(dirfd: number, rel: Buffer, flags: number, syscall: string): number {
  const fd = native.openBeneath(dirfd, rel, flags, 0);
  if (fd < 0) throw sourceError(-fd, syscall, rel);
  return fd;
}

/**
 * Directory name in dirfd, opened without following any symlink, and checked
 * to be the directory lstat saw (st): not another one swapped in since.
 */
export function openDirAt(dirfd: number, name: Buffer, st: SourceStat, rel: Buffer): number {
  const fd = openBeneath(dirfd, name, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 'opendir');
  const now = fstatOf(fd);
  if (now.ino !== st.ino || now.dev !== st.dev) {
    fs.closeSync(fd);
    throw new MrsyncError('ERR_CHANGED', `${display(rel)}: replaced while being read`);
  }
  return fd;
}

/** The names in an open directory (bytes; '.' and '..' left out). */
export function listDir(dirfd: number): Buffer[] {
  return fs.readdirSync(`/proc/self/fd/${dirfd}`, { encoding: 'buffer' });
}

/**
 * A directory's entries, names in byte order, with their lstat taken in the
 * same native call (listStat): what listDir and an lstatAt per name give, at
 * a call per directory instead of one per entry.
 */
export class Listing {
  readonly names: Buffer[] = [];
  private constructor(private readonly stats: Float64Array) {}

  /** The entries of open directory dirfd (rel names it in messages). */
  static of(dirfd: number, rel: Buffer): Listing {
    const { names, stats, errno } = native.listStat(dirfd);
    if (errno || !names || !stats) throw sourceError(errno || 5 /* EIO */, 'scandir', rel);
    const l = new Listing(stats);
    for (let at = 0; at < names.length;) {
      const end = names.indexOf(0, at);
      l.names.push(names.subarray(at, end));
      at = end + 1;
    }
    return l;
  }

  /** The lstat of entry k (rel), as lstatAt gives it; throws as lstatAt would. */
  stat(k: number, rel: Buffer): SourceStat {
    const o = this.stats.subarray(12 * k, 12 * k + 12);
    if (o[11]) throw sourceError(o[11], 'lstat', rel);
    return decodeStat(o);
  }
}

/** A symlink's target: name in dirfd (readlink does not follow the last component). */
export function readlinkAt(dirfd: number, name: Buffer): Buffer {
  return fs.readlinkSync(Buffer.concat([Buffer.from(`/proc/self/fd/${dirfd}/`), name]), { encoding: 'buffer' });
}

/** What the scan recorded of a file, to check what is opened later against. */
export interface Expected { dev: bigint; ino: bigint; size: number }

/**
 * Regular file rel (a clean relative path, or one component) beneath dirfd,
 * opened for reading without following any symlink and without blocking, and
 * checked against what the scan saw: the same inode, a regular file, the same
 * size. A mismatch is an Error with code ECHANGED (the source changed since
 * the scan; nothing of it is sent).
 */
export function openFileBeneath(dirfd: number, rel: Buffer, want: Expected): { fd: number; mark: FileMark } {
  const fd = openBeneath(dirfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 'open');
  try {
    const st = fstatOf(fd);
    const mismatch = !isFile(st) ? Mismatch.NotFile : st.ino !== want.ino || st.dev !== want.dev ? Mismatch.Replaced
      : st.size !== want.size ? Mismatch.Size : 0;
    if (mismatch) throw changedSince(mismatch, want.size, st.size);
    return { fd, mark: { size: buf[1], mtimeS: buf[4], mtimeNsec: buf[5], ctimeS: buf[11], ctimeNsec: buf[12], nlink: buf[10] } };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** How a file opened for sending differs from what the scan saw (native.readFiles's codes). */
const enum Mismatch { NotFile = 1, Replaced = 2, Size = 3, Shrank = 4, ChangedWhileRead = 5 }

function changedSince(m: Mismatch, scanned: number, now: number): MrsyncError {
  switch (m) {
    case Mismatch.NotFile: return new MrsyncError('ERR_CHANGED', 'is no longer a regular file since the scan');
    case Mismatch.Replaced: return new MrsyncError('ERR_CHANGED', 'was replaced by another file since the scan');
    case Mismatch.Size: return new MrsyncError('ERR_CHANGED', `changed size (${scanned} -> ${now} bytes) since the scan`);
    case Mismatch.Shrank: return new MrsyncError('ERR_CHANGED', 'shrank while being read');
    default: return new MrsyncError('ERR_CHANGED', 'changed while being read');
  }
}

/** A small file to read whole: its path beneath the root, and the scan's entry of it (BigUint64Array ids: dev, ino). */
export interface SmallFile { rel: Buffer; size: number; entry: number }

let readInto = Buffer.alloc(0); // one buffer for every call: fresh memory each time costs its page faults

/**
 * Small files beneath dirfd read whole, one after the other, in one native
 * call: each opened, checked and read as openFileBeneath and a read of it
 * would (the same inode, a regular file, the same size), and checked again
 * after the read (a file written meanwhile is not taken). ids: the scan's
 * device and inode of every entry (ScanStep.ids). contents: the files that
 * were read, back to back (valid until the next call); per file its offset
 * there, or why it was not read (as sendFailure takes it).
 */
export function readSmallFiles(dirfd: number, files: SmallFile[], ids: BigUint64Array): { contents: Buffer; results: ({ offset: number } | { error: Error })[] } {
  const meta = new Float64Array(3 * files.length);
  const fileIds = new BigUint64Array(2 * files.length);
  let at = 0, total = 0;
  files.forEach((f, k) => {
    meta[3 * k] = at;
    meta[3 * k + 1] = f.rel.length;
    meta[3 * k + 2] = f.size;
    fileIds[2 * k] = ids[2 * f.entry];
    fileIds[2 * k + 1] = ids[2 * f.entry + 1];
    at += f.rel.length;
    total += f.size;
  });
  if (readInto.length < total) readInto = Buffer.allocUnsafe(Math.max(total, 64 * 1024));
  const dest = readInto;
  const out = new Float64Array(2 * files.length);
  const used = native.readFiles(dirfd, Buffer.concat(files.map((f) => f.rel), at), meta, fileIds, dest, out);
  const results = files.map((f, k) => {
    const code = out[2 * k], arg = out[2 * k + 1];
    if (code === 0) return { offset: arg };
    if (code > 10) return { error: sourceError(arg, ['open', 'fstat', 'read'][code - 11], f.rel) };
    return { error: changedSince(code as Mismatch, f.size, arg) };
  });
  return { contents: dest.subarray(0, used), results };
}

/** What an errno at a file's open says changed since the scan (which saw a file under directories). */
const CHANGED_ERRNO: Record<string, string> = {
  ENOENT: 'gone', ENOTDIR: 'a directory on its path replaced by a file',
  ELOOP: 'a directory on its path replaced by a symlink', EXDEV: 'a directory on its path replaced by a symlink',
};

/**
 * Why a file could not be sent, as the report says it: changed since the
 * scan (gone, or its path changed under it: it counts among the files that
 * changed, exit 2), too big, or unreadable (EACCES, EIO: exit 23).
 */
export function sendFailure(err: unknown): { message: string; changed: boolean; code: FailureCode } {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_CHANGED') return { message: `${(err as Error).message} on the master, not sent`, changed: true, code: 'SOURCE_CHANGED' };
  if (code === 'ERR_TOO_BIG') return { message: (err as Error).message, changed: false, code: 'TOO_BIG' };
  if (code && CHANGED_ERRNO[code]) return { message: `changed on the master since the scan (${code}: ${CHANGED_ERRNO[code]}), not sent`, changed: true, code: 'SOURCE_CHANGED' };
  return { message: `source unreadable: ${code ?? (err as Error).message}`, changed: false, code: 'SOURCE_UNREADABLE' };
}
