// What every command-line tool does with an error: one line, an exit code.
import { UserError } from '../options';

/** Print e as one line and return the exit status: 0 help/version, 1 bad input, 4 anything else. */
export function errorExit(prog: string, e: unknown): number {
  const err = e as Error & { code?: string };
  if (err.code?.startsWith('commander.')) {
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 1;
  }
  if (e instanceof UserError) {
    process.stderr.write(`${prog}: ${err.message}\n`);
    return 1;
  }
  if (err.code && 'syscall' in err) {
    process.stderr.write(`${prog}: ${err.message}\n`);
    return 4;
  }
  process.stderr.write(`${prog}: internal error: ${err.stack ?? err}\n`);
  return 4;
}
