// Small filesystem helpers shared by the catcher's steps.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { native } from '../native';
import { Have } from './plan';
import { baseOf } from '../wire/paths';

export function lstatHave(p: Buffer): Have | null {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(p, { bigint: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return {
    kind, size: Number(st.size), mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid),
    mtimeNs: st.mtimeNs, ino: st.ino, dev: st.dev,
    link: kind === 'symlink' ? fs.readlinkSync(p, { encoding: 'buffer' }) : undefined,
  };
}

// random bytes for temp names, drawn 1.5 KiB at a time (a call to the CSPRNG per file cost more than the file's rename)
let pool = Buffer.alloc(0);
let poolAt = 0;
function randomHex12(): string {
  if (poolAt + 6 > pool.length) { pool = crypto.randomBytes(6 * 256); poolAt = 0; }
  poolAt += 6;
  return pool.toString('hex', poolAt - 6, poolAt);
}

/** The name of a temp file beside rel in its own directory: .NAME.mrsync.RANDOM, at most 255 bytes. */
export function tempName(rel: Buffer): Buffer {
  const base = baseOf(rel).subarray(0, 200);
  return Buffer.concat([Buffer.from('.'), base, Buffer.from(`.mrsync.${randomHex12()}`)]);
}


/**
 * Whether the file at p (a temp file's) is one a live catcher is writing:
 * receive.ts holds each locked (flock) while it writes it, and the lock ends
 * with its process.
 */
export function isHeld(p: Buffer): boolean {
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    return native.lockTemp(fd) === -os.constants.errno.EWOULDBLOCK;
  } finally {
    fs.closeSync(fd);
  }
}

/** Is this directory entry a temp file of tempName's making (left by a catcher that was killed)? */
export function isTempName(name: Buffer): boolean {
  return name.length > 21 && name[0] === 0x2e && /\.mrsync\.[0-9a-f]{12}$/.test(name.subarray(name.length - 20).toString('latin1'));
}

/**
 * Set mtime to the nanosecond (atime: now). fs.utimes takes seconds as a
 * double, which loses the last bits of an mtime at today's epoch, and rsync
 * compares nanoseconds; so this goes through utimensat in the addon.
 */
export function setMtime(target: Buffer | number, mtimeNs: bigint, nofollow = true): void {
  const [s, nsec] = splitNs(mtimeNs);
  native.setTimes(target, s, nsec, nofollow);
}

/** A time in ns as [seconds, nanoseconds 0..999999999] (floor, also before 1970) for a timespec. */
export function splitNs(ns: bigint): [number, number] {
  let s = ns / 1_000_000_000n;
  let n = ns % 1_000_000_000n;
  if (n < 0n) { n += 1_000_000_000n; s -= 1n; }
  return [Number(s), Number(n)];
}

