// Small filesystem helpers shared by the catcher's steps.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { native } from './native';
import { Have } from './plan';
import { baseOf, parentOf, under } from './paths';

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

/** A temp name beside rel in its own directory: .NAME.mrsync.RANDOM, at most 255 bytes. */
export function tempBeside(root: Buffer, rel: Buffer): Buffer {
  const base = baseOf(rel).subarray(0, 200);
  const name = Buffer.concat([Buffer.from('.'), base, Buffer.from(`.mrsync.${crypto.randomBytes(6).toString('hex')}`)]);
  const dir = parentOf(rel);
  return under(root, dir.length === 1 && dir[0] === 0x2e ? name : Buffer.concat([dir, Buffer.from('/'), name]));
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
  const x = e as NodeJS.ErrnoException;
  return x && x.code ? `${x.code}${x.syscall ? ` (${x.syscall})` : ''}` : String((e as Error)?.message ?? e);
}

export function sha256File(fd: number, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    if (size === 0) { resolve(h.digest()); return; }
    const s = fs.createReadStream('', { fd, start: 0, autoClose: false, highWaterMark: 1 << 20 });
    s.on('data', (d) => h.update(d));
    s.on('error', reject);
    s.on('end', () => resolve(h.digest()));
  });
}
