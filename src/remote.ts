// Starting a catcher on a target through the remote shell, exactly as ssh
// would be run: RSH [args...] HOST 'command string'. The channel carries the
// session header down (stdin) and tagged JSON lines back (stdout).
import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { CatcherLine, LINE_TAG, MasterLine } from './session';

/** Split an --rsh value the way rsync splits -e: whitespace, with '' and "" quoting. */
export function splitCommand(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q: string | null = null;
  let any = false;
  for (const c of s) {
    if (q) {
      if (c === q) q = null;
      else cur += c;
    } else if (c === '"' || c === "'") { q = c; any = true; }
    else if (/\s/.test(c)) { if (cur || any) out.push(cur); cur = ''; any = false; }
    else cur += c;
  }
  if (q) throw new Error(`unbalanced quote in remote shell command: ${s}`);
  if (cur || any) out.push(cur);
  return out;
}

/** POSIX shell single-quoting for the remote command string. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface RemoteEvents {
  line: [CatcherLine];
  exit: [number | null, string];
}

export class RemoteCatcher extends EventEmitter<RemoteEvents> {
  private child: ChildProcess;
  private buf = '';
  private stderrTail = '';
  exited = false;
  spawnError: string | null = null;
  heard = false; // any tagged line came back
  exitCode: number | null = null;

  constructor(readonly host: string, rsh: string[], command: string) {
    super();
    this.child = spawn(rsh[0], [...rsh.slice(1), host, command], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => this.onData(d));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-4000);
    });
    this.child.stdin!.on('error', () => { /* the exit handler reports it */ });
    this.child.on('error', (e) => {
      this.spawnError = `cannot run remote shell ${rsh[0]}: ${(e as NodeJS.ErrnoException).code ?? e.message}`;
    });
    this.child.on('close', (code, signal) => {
      this.exited = true;
      this.exitCode = code ?? (signal ? 128 : null);
      this.emit('exit', this.exitCode, this.stderrTail.trim());
    });
  }

  get stderr(): string { return this.stderrTail.trim(); }

  /** Why the channel ended, for a report: `what (exit N): last stderr lines`, or why the shell never ran. */
  exitReason(what: string): string {
    if (this.spawnError) return this.spawnError;
    const tail = this.stderr.split('\n').filter(Boolean).slice(-3).join(' | ');
    return `${what} (exit ${this.exitCode})${tail ? `: ${tail}` : ''}`;
  }

  /** The session header: the first line on the catcher's stdin. */
  start(p: object): void { this.write(p); }

  send(m: MasterLine): void { this.write(m); }

  private write(o: unknown): void {
    if (this.exited || !this.child.stdin!.writable) return;
    this.child.stdin!.write(JSON.stringify(o) + '\n');
  }

  /** Close our end: the catcher cleans up and exits. */
  close(): void {
    if (!this.exited) this.child.stdin!.end();
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGTERM');
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (!line.startsWith(LINE_TAG)) continue;
      this.heard = true;
      try {
        this.emit('line', JSON.parse(line.slice(LINE_TAG.length)) as CatcherLine);
      } catch {
        /* a damaged line is ignored; the master times the target out */
      }
    }
    if (this.buf.length > 1 << 20) this.buf = '';
  }
}
