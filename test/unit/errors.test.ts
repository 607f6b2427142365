// errors.ts: the one error model. Failure codes are on the wire (a Done's
// byte is the index of its code) and in the status file: their order and
// names are fixed (a new one goes at the end).
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { FAILURE_CODES, ManifestError, MrsyncError, SysError, UserError, describe, errnoName, failureIndex, isFailureCode, sysError } from '../../src/errors';

test('failure codes: the wire\'s numbering is fixed', () => {
  assert.deepEqual([...FAILURE_CODES], [
    'OK', 'FAILED', 'HASH_MISMATCH', 'WRITE_FAILED', 'CREATE_FAILED', 'COMMIT_FAILED', 'TOO_BIG', 'NOT_OPENED',
    'SOURCE_CHANGED', 'SOURCE_UNREADABLE', 'SAT_OUT', 'NOT_DELIVERED', 'LOCAL', 'UNREACHABLE', 'REFUSED', 'SILENT', 'EXITED',
    'INTERRUPTED',
  ]);
  assert.equal(failureIndex('OK'), 0);
  assert.equal(failureIndex('HASH_MISMATCH'), 2);
  assert.ok(isFailureCode('SILENT'));
  assert.ok(!isFailureCode('ENOSPC'));
  assert.ok(!isFailureCode(3));
});

test('errors: stable codes for mrsync\'s own, errno names for system calls; one line each', () => {
  const u = new UserError('--rate must be a rate');
  assert.ok(u instanceof MrsyncError);
  assert.equal(u.code, 'ERR_USAGE');
  assert.equal(describe(u), '--rate must be a rate');
  assert.equal(new ManifestError('bad manifest: magic').code, 'ERR_MANIFEST');
  const s = sysError(os.constants.errno.ELOOP, 'openat2', 'a/b', 'a symlink or a path leaving the target tree is in the way');
  assert.ok(s instanceof SysError);
  assert.deepEqual([s.code, s.errno, s.syscall, s.message], ['ELOOP', os.constants.errno.ELOOP, 'openat2', 'a/b: a symlink or a path leaving the target tree is in the way']);
  assert.equal(describe(s), 'ELOOP (openat2): a symlink or a path leaving the target tree is in the way');
  assert.equal(describe(sysError(os.constants.errno.ENOSPC, 'write', 'x')), 'ENOSPC (write)');
  // Node's own fs errors read the same
  let fsErr: unknown;
  try { require('node:fs').openSync('/nonexistent/x'); } catch (e) { fsErr = e; }
  assert.equal(describe(fsErr), 'ENOENT (open)');
  assert.equal(errnoName(os.constants.errno.EROFS), 'EROFS');
  assert.equal(errnoName(99999), 'errno 99999');
});
