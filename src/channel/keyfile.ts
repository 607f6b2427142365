// The pre-shared key of daemon mode: one file, the same on the master and on
// every daemon, readable by its owner only (refused otherwise, as ssh refuses
// a private key others can read).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { UserError } from '../errors';

/** TLS settings both ends use: TLS 1.2 PSK with ephemeral ECDH (forward secrecy) and an AEAD. */
export const PSK_TLS = {
  ciphers: 'ECDHE-PSK-CHACHA20-POLY1305:ECDHE-PSK-AES256-CBC-SHA384',
  minVersion: 'TLSv1.2' as const,
  maxVersion: 'TLSv1.2' as const,
  identity: 'mrsync',
  // no certificate authority: nothing here verifies a certificate, and without
  // this Node builds its store of ~140 root certificates (and any
  // NODE_EXTRA_CA_CERTS) for the first context: 46 ms on the benchmark machine
  ca: [] as string[],
};

export const MIN_KEY_CHARS = 32;

/**
 * The key in FILE as the 32-byte PSK (SHA-256 of its trimmed text). Throws
 * UserError on every problem. The file is opened once and everything is
 * checked on that descriptor (fstat, then read): checked by path and read by
 * path, a file swapped in between would be read unchecked. O_NONBLOCK: a
 * FIFO put in its place is refused, not waited on.
 */
export function readKeyFile(file: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`key file ${file}: ${code === 'ENOENT' ? 'no such file' : code}`);
  }
  let text: string;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new UserError(`key file ${file} is not a regular file`);
    if (st.mode & 0o077) {
      throw new UserError(`key file ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); refused: run chmod 600 ${file}`);
    }
    const uid = process.getuid?.() ?? 0;
    if (st.uid !== uid && st.uid !== 0) throw new UserError(`key file ${file} belongs to uid ${st.uid}, not to you (uid ${uid}) or root; refused`);
    if (st.size > 4096) throw new UserError(`key file ${file} holds ${st.size} bytes; a key file is one line`);
    try {
      text = fs.readFileSync(fd, 'utf8').trim();
    } catch (e) {
      throw new UserError(`key file ${file}: ${(e as NodeJS.ErrnoException).code}`);
    }
  } finally {
    fs.closeSync(fd);
  }
  if (text.length < MIN_KEY_CHARS) {
    throw new UserError(`key file ${file} holds ${text.length} characters; a key needs at least ${MIN_KEY_CHARS} (make one with: multicatcher --new-key ${file})`);
  }
  return crypto.createHash('sha256').update('mrsync daemon psk\0').update(text).digest();
}

/** A new key file: 32 random bytes as hex, mode 0600; never overwrites. */
export function newKeyFile(file: string): void {
  try {
    fs.writeFileSync(file, crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot create key file ${file}: ${code === 'EEXIST' ? 'it exists (not overwritten)' : code}`);
  }
}
