// Logging: human-readable lines on stderr at the chosen verbosity, and with
// --log-file every event as one JSON line (pino) carrying the session id and,
// for what a target said or did, its host. -v 2 (debug) writes JSON lines on
// stderr for a file or a pipe, and readable lines (time, level, host,
// message, fields) on a terminal.
import type pinoModule from 'pino';

// loaded only when JSON lines are asked for (--log-file, -v 2): the biggest
// module to load, and every run starts its catchers after loading the rest
const loadPino = (): typeof pinoModule => require('pino') as typeof pinoModule; // eslint-disable-line @typescript-eslint/no-require-imports

export type Fields = Record<string, unknown>;

export interface Logger {
  error(msg: string, f?: Fields): void;
  warn(msg: string, f?: Fields): void;
  info(msg: string, f?: Fields): void;
  debug(msg: string, f?: Fields): void;
  /** the same logger with these fields on every JSON line (e.g. the session id) */
  bind(f: Fields): void;
  /** whether debug() writes anywhere (a caller can skip making what it would log) */
  readonly debugging: boolean;
}

/** Where the human lines go: stderr, or a stand-in (tests). */
export interface LogOut { write(s: string): unknown; isTTY?: boolean }

/** A -v 2 line for a terminal: time, level, host, message, the other fields as key=value. */
export function prettyLine(prog: string, level: string, msg: string, f: Fields = {}, now = new Date()): string {
  const { host, ...rest } = f;
  const who = typeof host === 'string' && !msg.startsWith(`${host}:`) ? `${host}: ` : '';
  const extra = Object.entries(rest).map(([k, v]) => ` ${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`).join('');
  return `${now.toTimeString().slice(0, 8)}.${String(now.getMilliseconds()).padStart(3, '0')} ${prog} ${level.padEnd(5)} ${who}${msg}${extra}\n`;
}

export function makeLogger(verbose: number, prog: string, logFile?: string, out: LogOut = process.stderr): Logger {
  const pretty = verbose >= 2 && Boolean(out.isTTY);
  const pino = logFile || (verbose >= 2 && !pretty) ? loadPino() : null;
  const file = pino && logFile ? pino({ name: prog, level: 'debug', base: { pid: process.pid } }, pino.destination({ dest: logFile, sync: true, mkdir: false })) : null;
  let json = file;
  const debugStream = pino && verbose >= 2 && !pretty ? pino({ name: prog, level: 'debug' }, pino.destination(2)) : null;
  const human = (lvl: string, msg: string, f?: Fields): void => {
    const host = f && typeof f.host === 'string' && !msg.startsWith(`${f.host}:`) ? `${f.host}: ` : '';
    out.write(`${prog}: ${lvl}${host}${msg}\n`);
  };
  const emit = (level: 'error' | 'warn' | 'info' | 'debug', msg: string, f?: Fields): void => {
    json?.[level](f ?? {}, msg);
    if (debugStream) { debugStream[level](f ?? {}, msg); return; }
    if (pretty) { out.write(prettyLine(prog, level, msg, f)); return; }
    if (level === 'error') human('error: ', msg, f);
    else if (level === 'warn' && verbose >= 1) human('warning: ', msg, f);
  };
  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
    bind: (f) => { if (file) json = file.child(f); },
    debugging: Boolean(file || debugStream || pretty),
  };
}
