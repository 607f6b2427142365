// Logging: pino for the structured debug stream (-v 2), plain lines for
// warnings and errors on stderr, so cron mail stays readable.
import pino from 'pino';

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

export function makeLogger(verbose: number, prog: string): Logger {
  const p = verbose >= 2 ? pino({ name: prog, level: 'debug' }, pino.destination(2)) : null;
  const line = (lvl: string, msg: string): void => { process.stderr.write(`${prog}: ${lvl}${msg}\n`); };
  return {
    error: (m) => { if (p) p.error(m); else line('error: ', m); },
    warn: (m) => { if (p) p.warn(m); else if (verbose >= 1) line('warning: ', m); },
    info: (m) => { if (p) p.info(m); else if (verbose >= 1) line('', m); },
    debug: (m) => { if (p) p.debug(m); },
  };
}
