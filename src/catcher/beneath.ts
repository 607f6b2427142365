// Every path the catcher touches on a target is resolved by the kernel
// beneath the destination root, with no symlink followed in any directory on
// the way (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, native/addon.cc).
// A directory swapped for a symlink at any moment, before the run or during
// it, makes that step fail with ELOOP instead of writing outside the root.
//
// The verified directory is held as an O_PATH descriptor and the final
// component is named through /proc/self/fd/N/NAME, so Node's own fs calls
// (rename, unlink, mkdir, symlink, link, open O_EXCL, lstat) act on exactly
// that directory and never follow the final component.
import fs from 'node:fs';
import os from 'node:os';
import { native } from '../native';
import { baseOf, display, isRoot, parentOf, pathProblem } from '../wire/paths';
import { Have } from './plan';
import { lstatHave } from './fsx';
import { hashFileSync } from '../wire/manifest';
import { MrsyncError, SysError, errnoName, sysError } from '../errors';

const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_NONBLOCK, O_NOCTTY } = fs.constants;
const O_PATH = native.O_PATH;

/** The error of a step on rel that failed with errno: ELOOP and EXDEV say what they mean beneath the root. */
export function stepError(errno: number, syscall: string, rel: Buffer): SysError {
  const name = errnoName(errno);
  return sysError(errno, syscall, display(rel), name === 'ELOOP' || name === 'EXDEV' ? 'a symlink or a path leaving the target tree is in the way' : undefined);
}

const procFd = (fd: number): Buffer => Buffer.from(`/proc/self/fd/${fd}`);

export type Sibling = (name: Buffer) => Buffer;

export class Beneath {
  private constructor(readonly fd: number) {}

  /** The root itself is trusted (the user named it): opened as given. */
  static open(root: Buffer): Beneath {
    return new Beneath(fs.openSync(root, O_PATH | O_DIRECTORY));
  }

  /**
   * rel (a clean relative path, or ".") beneath this tree, creating missing
   * directories one component at a time, each step verified: for a daemon,
   * whose root is fixed and whose masters name a directory inside it.
   */
  descend(rel: Buffer): Beneath {
    if (isRoot(rel)) return new Beneath(fs.openSync(procFd(this.fd), O_PATH | O_DIRECTORY));
    const why = pathProblem(rel);
    if (why) throw new Error(`bad target path ${display(rel)}: ${why}`);
    let cur = new Beneath(fs.openSync(procFd(this.fd), O_PATH | O_DIRECTORY));
    for (const comp of rel.toString('latin1').split('/')) {
      const name = Buffer.from(comp, 'latin1');
      let fd = native.openBeneath(cur.fd, name, O_PATH | O_DIRECTORY, 0);
      if (fd === -os.constants.errno.ENOENT) {
        try { fs.mkdirSync(Buffer.concat([procFd(cur.fd), Buffer.from('/'), name]), 0o755); } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') { cur.close(); throw e; }
        }
        fd = native.openBeneath(cur.fd, name, O_PATH | O_DIRECTORY, 0);
      }
      cur.close();
      if (fd < 0) throw stepError(-fd, 'openat2', rel);
      cur = new Beneath(fd);
    }
    return cur;
  }

  close(): void {
    try { fs.closeSync(this.fd); } catch { /* closed */ }
  }

  private openDir(rel: Buffer): number {
    const fd = native.openBeneath(this.fd, isRoot(rel) ? Buffer.from('.') : rel, O_PATH | O_DIRECTORY, 0);
    if (fd < 0) throw stepError(-fd, 'openat2', rel);
    return fd;
  }

  /**
   * fn(p, sib): p names rel through its verified parent directory (the
   * final component is not resolved yet; use calls that do not follow it),
   * sib(name) a sibling of rel in that same directory (its temp file). For
   * the *at calls that spare the kernel the walk through /proc, hold the
   * directory itself: parentFd.
   */
  at<T>(rel: Buffer, fn: (p: Buffer, sib: Sibling) => T): T {
    if (isRoot(rel)) {
      const sib: Sibling = () => { throw new Error('the root has no siblings'); };
      return fn(Buffer.concat([procFd(this.fd), Buffer.from('/.')]), sib);
    }
    const dfd = this.openDir(parentOf(rel));
    try {
      const dir = Buffer.from(`/proc/self/fd/${dfd}/`);
      const sib: Sibling = (name) => Buffer.concat([dir, name]);
      return fn(sib(baseOf(rel)), sib);
    } finally {
      fs.closeSync(dfd);
    }
  }

  /**
   * rel's parent directory, verified as at() verifies it, as an O_PATH
   * descriptor the caller closes: a received file holds it from creating its
   * temp file to renaming it, both in that one directory.
   */
  parentFd(rel: Buffer): number {
    return this.openDir(parentOf(rel));
  }

  /**
   * For looking up many entries in a row (a manifest segment's plan): see
   * Lookup. Close it when the run of lookups is over.
   */
  lookup(): Lookup {
    return new Lookup((rel) => this.openDir(rel), (rel) => this.at(rel, lstatHave));
  }

  /**
   * SHA-256 of regular file rel if it is still the file lookup saw (have:
   * same inode), else null. Opened without following it and without blocking
   * (a FIFO or symlink swapped in is not read, nor waited on), then checked
   * on the descriptor: a path checked and then read could be another file.
   */
  contentHash(rel: Buffer, have: Have): Buffer | null {
    return this.at(rel, (p) => {
      let fd: number;
      try {
        fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
      } catch {
        return null; // gone, a symlink (ELOOP), unreadable: not the same content
      }
      try {
        const st = fs.fstatSync(fd, { bigint: true });
        if (!st.isFile() || st.ino !== have.ino || st.dev !== have.dev) return null;
        return hashFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  /** The entries of directory rel (names as bytes). */
  list(rel: Buffer): Buffer[] {
    const dfd = this.openDir(rel);
    try {
      return fs.readdirSync(procFd(dfd), { encoding: 'buffer' });
    } finally {
      fs.closeSync(dfd);
    }
  }

  /**
   * fn(p): p names the inode of rel itself, opened without following it and
   * checked to be a directory or a regular file as expected, so chmod, chown
   * and utimes through p can reach nothing else.
   */
  self<T>(rel: Buffer, kind: 'file' | 'dir', fn: (p: Buffer) => T): T {
    return this.at(rel, (p) => {
      const fd = fs.openSync(p, O_PATH | O_NOFOLLOW);
      try {
        const st = fs.fstatSync(fd);
        if (kind === 'dir' ? !st.isDirectory() : !st.isFile()) {
          throw new MrsyncError('ERR_CHANGED', `${display(rel)} changed type on the target during the run`);
        }
        return fn(procFd(fd));
      } finally {
        fs.closeSync(fd);
      }
    });
  }
}

const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFLNK = 0o120000;

/**
 * lstat of many entries in a row: each parent directory is opened (beneath
 * the root, no symlinks on the way, as Beneath.at does) once and its entries
 * are looked up through that descriptor (fstatat), one syscall per entry
 * instead of an openat2, a walk through /proc and a close. Read-only: what
 * it finds only decides what to ask for; every change still goes through
 * Beneath.at. Directories are held open until close() (at most MAX_DIRS).
 */
export class Lookup {
  private static readonly MAX_DIRS = 64;
  private readonly dirs = new Map<string, number>();
  private readonly st = new Float64Array(10);

  constructor(private readonly openDir: (rel: Buffer) => number, private readonly slow: (rel: Buffer) => Have | null) {}

  have(rel: Buffer): Have | null {
    if (isRoot(rel)) return this.slow(rel);
    const parent = parentOf(rel);
    const key = parent.toString('latin1');
    let dfd = this.dirs.get(key);
    if (dfd === undefined) {
      if (this.dirs.size >= Lookup.MAX_DIRS) this.close();
      dfd = this.openDir(parent);
      this.dirs.set(key, dfd);
    }
    const name = baseOf(rel);
    const r = native.lstatAt(dfd, name, this.st);
    if (r === -os.constants.errno.ENOENT) return null;
    if (r < 0) throw stepError(-r, 'lstat', rel);
    const o = this.st;
    const fmt = o[0] & S_IFMT;
    const kind = fmt === S_IFREG ? 'file' : fmt === S_IFDIR ? 'dir' : fmt === S_IFLNK ? 'symlink' : 'other';
    return {
      kind, size: o[1], mode: o[0] & 0o7777, uid: o[2], gid: o[3],
      mtimeNs: BigInt(o[4]) * 1_000_000_000n + BigInt(o[5]),
      ino: (BigInt(o[6]) << 32n) | BigInt(o[7]), dev: (BigInt(o[8]) << 32n) | BigInt(o[9]),
      link: kind === 'symlink' ? fs.readlinkSync(Buffer.concat([procFd(dfd), Buffer.from('/'), name]), { encoding: 'buffer' }) : undefined,
    };
  }

  /** Forget every directory held (after this run of lookups, or when the tree was changed under them). */
  close(): void {
    for (const fd of this.dirs.values()) { try { fs.closeSync(fd); } catch { /* closed */ } }
    this.dirs.clear();
  }
}
