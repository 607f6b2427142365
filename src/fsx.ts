// Small filesystem helpers shared by the catcher's steps.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from './native';
import { Have } from './plan';
import { baseOf } from './paths';

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

/** The name of a temp file beside rel in its own directory: .NAME.mrsync.RANDOM, at most 255 bytes. */
export function tempName(rel: Buffer): Buffer {
  const base = baseOf(rel).subarray(0, 200);
  return Buffer.concat([Buffer.from('.'), base, Buffer.from(`.mrsync.${crypto.randomBytes(6).toString('hex')}`)]);
}

/** A read-write file in the temp directory with no name (unlinked at once): nothing to clean up after a crash. */
export function anonymousFile(): number {
  const p = path.join(os.tmpdir(), `.mrsync-manifest-${crypto.randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(p, 'wx+', 0o600);
  fs.unlinkSync(p);
  return fd;
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
  const sec = mtimeNs / 1_000_000_000n;
  let nsec = mtimeNs % 1_000_000_000n;
  let s = sec;
  if (nsec < 0n) { nsec += 1_000_000_000n; s -= 1n; }
  native.setTimes(target, Number(s), Number(nsec), nofollow);
}

export function errText(e: unknown): string {
  const x = e as NodeJS.ErrnoException & { hint?: string };
  return x && x.code ? `${x.code}${x.syscall ? ` (${x.syscall})` : ''}${x.hint ? `: ${x.hint}` : ''}` : String((e as Error)?.message ?? e);
}

const HASH_CHUNK = 1 << 20;
const hashBuf = Buffer.allocUnsafe(HASH_CHUNK);

/**
 * SHA-256 of the first size bytes of fd. Reads are synchronous into one
 * shared buffer (each chunk is read and hashed before any await, so
 * concurrent calls cannot clobber it), yielding to the event loop between
 * chunks: a stream per file cost more in allocation and copies than the
 * hashing itself for trees of small files.
 */
export async function sha256File(fd: number, size: number): Promise<Buffer> {
  const h = crypto.createHash('sha256');
  await hashRange(h, fd, 0, size);
  return h.digest();
}

/** Feed bytes [from, to) of fd into h, a chunk at a time, yielding between chunks. */
export async function hashRange(h: crypto.Hash, fd: number, from: number, to: number): Promise<void> {
  let pos = from;
  while (pos < to) {
    const n = fs.readSync(fd, hashBuf, 0, Math.min(HASH_CHUNK, to - pos), pos);
    if (n <= 0) throw Object.assign(new Error('file shorter than expected'), { code: 'ESHORT' });
    h.update(hashBuf.subarray(0, n));
    pos += n;
    if (pos < to) await new Promise<void>((r) => setImmediate(r));
  }
}

/** The same, synchronously (bounded ranges from a timer). */
export function hashRangeSync(h: crypto.Hash, fd: number, from: number, to: number): void {
  for (let pos = from; pos < to; ) {
    const n = fs.readSync(fd, hashBuf, 0, Math.min(HASH_CHUNK, to - pos), pos);
    if (n <= 0) throw Object.assign(new Error('file shorter than expected'), { code: 'ESHORT' });
    h.update(hashBuf.subarray(0, n));
    pos += n;
  }
}
