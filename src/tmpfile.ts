// A file with no name, for bytes a process keeps while it runs (a manifest
// segment on the master and on a target, a pack of small files on a target): in memory,
// or unlinked as soon as it is made, so nothing is left to clean up after a
// crash; and reading or writing such bytes whole.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from './native';

/**
 * A read-write file in memory (memfd), for a pack of small files: made and
 * dropped hundreds of times a second, where a file in a temp directory on a
 * disk's file system costs an inode to allocate and free each time (ext4:
 * milliseconds when many were freed just before). A file in the temp
 * directory where memfd is refused.
 */
export function memoryFile(): number {
  const fd = native.memfd();
  return fd >= 0 ? fd : anonymousFile();
}

/** Fill buf from fd at offset 0 on (pread until it is full); false if the file ends first. */
export function readWhole(fd: number, buf: Buffer): boolean {
  for (let got = 0; got < buf.length;) {
    const n = fs.readSync(fd, buf, got, buf.length - got, got);
    if (n <= 0) return false;
    got += n;
  }
  return true;
}

/** Write buf[from, from + length) to fd at offset 0 on (pwrite until all of it is written). */
export function writeWhole(fd: number, buf: Buffer, from = 0, length = buf.length - from): void {
  for (let put = 0; put < length;) put += fs.writeSync(fd, buf, from + put, length - put, put);
}

/** A read-write file in the temp directory with no name (unlinked at once): nothing to clean up after a crash. */
export function anonymousFile(): number {
  const p = path.join(os.tmpdir(), `.mrsync-manifest-${crypto.randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(p, 'wx+', 0o600);
  fs.unlinkSync(p);
  return fd;
}
