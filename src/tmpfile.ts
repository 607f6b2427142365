// A file with no name, for bytes a process keeps while it runs (a manifest
// segment on the master and on a target): unlinked as soon as it is made, so
// nothing is left to clean up after a crash.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A read-write file in the temp directory with no name (unlinked at once): nothing to clean up after a crash. */
export function anonymousFile(): number {
  const p = path.join(os.tmpdir(), `.mrsync-manifest-${crypto.randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(p, 'wx+', 0o600);
  fs.unlinkSync(p);
  return fd;
}
