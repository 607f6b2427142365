// One error model for mrsync.
//
// - What mrsync refuses or gives up on by its own rules is an MrsyncError
//   with a stable code (ErrorCode): bad input (UserError, ERR_USAGE: one line,
//   exit 1), a manifest that cannot be decoded (ManifestError), a source file
//   that changed, one too big for the page size.
// - A system call that failed is a SysError, shaped as Node's own fs errors
//   are (code: the errno's name, errno, syscall), so the two are handled
//   alike. errnoName() and sysError() are the one place errno numbers turn
//   into names and errors.
// - The native addon has one convention: a call that can fail for reasons of
//   the system returns -errno (never throws); misuse (bad arguments) throws a
//   TypeError; the socket loop's constructor throws a SysError-shaped Error
//   (code, errno, syscall) when it cannot set up its socket.
// - A target's failures (a file not delivered, the target itself) carry a
//   FailureCode beside their text: in the report's data and the status file.
import os from 'node:os';

export type ErrorCode =
  | 'ERR_USAGE'        // bad input: options, source, lists, key files; nothing was sent
  | 'ERR_MANIFEST'     // a manifest segment that cannot be decoded
  | 'ERR_CHANGED'      // a file changed while mrsync handled it (since the scan, or on a target)
  | 'ERR_TOO_BIG'      // a file of more pages than the wire can number
  | 'ERR_INTERNAL';

export class MrsyncError extends Error {
  constructor(readonly code: ErrorCode | string, message: string) {
    super(message);
    this.name = 'MrsyncError';
  }
}

/** Bad input from the user: printed as one line, exit status 1. */
export class UserError extends MrsyncError {
  constructor(message: string) { super('ERR_USAGE', message); }
}

/** A manifest segment that cannot be decoded (from the network: never trusted). */
export class ManifestError extends MrsyncError {
  constructor(message: string) { super('ERR_MANIFEST', message); }
}

/** A system call that failed: code is the errno's name, as in Node's fs errors. */
export class SysError extends MrsyncError {
  constructor(readonly errno: number, readonly syscall: string, message: string, readonly hint?: string) {
    super(errnoName(errno), message);
  }
}

const names = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

/** The name of an errno (a positive number): ENOENT, ELOOP, ...; "errno N" if unknown. */
export function errnoName(n: number): string {
  return names.get(n) ?? `errno ${n}`;
}

/**
 * A SysError for errno (positive) from syscall on what (a path, shown as
 * given); hint: what the error means here, shown instead of the name.
 */
export function sysError(errno: number, syscall: string, what: string, hint?: string): SysError {
  return new SysError(errno, syscall, `${what}: ${hint ?? errnoName(errno)}`, hint);
}

/** One line about an error: CODE (syscall): hint for system errors, the message for others. */
export function describe(e: unknown): string {
  const x = e as NodeJS.ErrnoException & { hint?: string };
  if (x instanceof MrsyncError && !(x instanceof SysError)) return x.message;
  return x && x.code ? `${x.code}${x.syscall ? ` (${x.syscall})` : ''}${x.hint ? `: ${x.hint}` : ''}` : String((e as Error)?.message ?? e);
}

/**
 * Why a target lacks a file, or why the target is out of the run: stable
 * codes beside the text, in the status file (failedFiles[].code,
 * targets[].errorCode). On the wire, a catcher's Done carries the file's as
 * its index in FAILURE_CODES (0: delivered).
 */
export const FAILURE_CODES = [
  'OK',
  'FAILED',            // on the target, for another reason (its text says)
  'HASH_MISMATCH',     // the content that arrived is not the master's (changed during the send, or forged pages)
  'WRITE_FAILED',      // the target could not write it (ENOSPC, EROFS, EIO)
  'CREATE_FAILED',     // the temp file could not be made
  'COMMIT_FAILED',     // owner, mode, times or the rename failed
  'TOO_BIG',
  'NOT_OPENED',        // asked about a file it never received the OPEN of
  // the master's
  'SOURCE_CHANGED',    // changed on the master since the scan or during the send: not committed anywhere
  'SOURCE_UNREADABLE',
  'SAT_OUT',           // it made no progress on the file while the others finished it
  'NOT_DELIVERED',     // the target left the run, or never got it
  'LOCAL',             // a step that needs no data failed on the target (a directory in the way, mkdir, link)
  // the target's
  'UNREACHABLE',       // the remote shell or the daemon could not be reached
  'REFUSED',           // the catcher or daemon refused the session (version, path, key)
  'SILENT',            // silent past -w
  'EXITED',            // its catcher ended before its result
  'INTERRUPTED',       // the push was interrupted (SIGINT, SIGTERM, SIGHUP) before the target finished
] as const;
export type FailureCode = typeof FAILURE_CODES[number];

export function failureIndex(code: FailureCode): number {
  return FAILURE_CODES.indexOf(code);
}

export function isFailureCode(x: unknown): x is FailureCode {
  return typeof x === 'string' && (FAILURE_CODES as readonly string[]).includes(x);
}

/** For test/e2e/internal-fault.sh (MRSYNC_TEST_FAULT): where a fault of this program is injected, if anywhere. */
const TEST_FAULT = process.env.MRSYNC_TEST_FAULT;

/** Throw, as a fault of this program would, where MRSYNC_TEST_FAULT names this place (the catcher: an event's kind; the master: 'master'). */
export function injectedFault(where: string): void {
  if (TEST_FAULT === where) throw new Error('a fault injected for a test (MRSYNC_TEST_FAULT)');
}
