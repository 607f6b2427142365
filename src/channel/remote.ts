// The channel to a catcher on a target. Either through the remote shell,
// exactly as ssh would be run: RSH [args...] HOST 'command string'; or to a
// multicatcher --daemon over TLS with the pre-shared key (daemon.ts). Either
// carries the session header down and tagged JSON lines back.
import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { PSK_TLS } from './keyfile';
import { CatcherLine, LINE_TAG, MasterLine } from '../wire/session';

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

/** What the master and rtt see of a catcher: lines in, lines out, an end. */
export abstract class CatcherChannel extends EventEmitter<RemoteEvents> {
  /** What starts the catcher, for messages: the remote shell, or the daemon. */
  abstract readonly via: string;
  private buf = '';
  protected stderrTail = '';
  exited = false;
  spawnError: string | null = null; // why the channel never came up
  heard = false; // any tagged line came back
  exitCode: number | null = null;
  exitSignal: string | null = null; // the signal that ended the remote shell, if one did

  get stderr(): string { return this.stderrTail.trim(); }

  /** Why the channel ended, for a report: `what (exit N): last stderr lines`, or why it never came up. */
  exitReason(what: string): string {
    if (this.spawnError) return this.spawnError;
    const tail = this.stderr.split('\n').filter(Boolean).slice(-3).join(' | ');
    return `${what} (${this.exitSignal ? `killed by ${this.exitSignal}` : `exit ${this.exitCode}`})${tail ? `: ${tail}` : ''}`;
  }

  /** The session header: the first line on the catcher's stdin. */
  start(p: object): void { this.write(p); }

  send(m: MasterLine): void { this.write(m); }

  /** Close our end: the catcher cleans up and exits. */
  abstract close(): void;
  abstract kill(): void;
  protected abstract writeLine(s: string): void;

  private write(o: unknown): void {
    if (!this.exited) this.writeLine(JSON.stringify(o) + '\n');
  }

  /** A daemon's word on how its session's catcher ended (DaemonCatcher); a remote shell's own exit says it. */
  protected onExitLine(_l: Extract<CatcherLine, { t: 'exit' }>): void { /* the remote shell's status is the catcher's */ }

  protected ended(code: number | null, signal: string | null = null): void {
    this.exited = true;
    this.exitCode = code;
    this.exitSignal = signal;
    this.emit('exit', this.exitCode, this.stderr);
  }

  protected onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (!line.startsWith(LINE_TAG)) continue;
      this.heard = true;
      let l: CatcherLine;
      try {
        l = JSON.parse(line.slice(LINE_TAG.length)) as CatcherLine;
      } catch {
        continue; // a damaged line is ignored; the master times the target out
      }
      if (l && l.t === 'exit') this.onExitLine(l);
      else this.emit('line', l);
    }
    if (this.buf.length > 1 << 20) this.buf = '';
  }
}

export class RemoteCatcher extends CatcherChannel {
  readonly via = 'the remote shell';
  private child: ChildProcess;
  private killed = false;

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
    this.child.on('close', (code, signal) => { if (!this.exited) this.ended(code ?? (signal ? 128 : null), signal); });
    // its output closes when the last process holding it does: one the remote shell left behind (stopped,
    // say) would keep the channel open for ever after the shell's end: ended a second later
    this.child.on('exit', (code, signal) => {
      setTimeout(() => {
        if (this.exited) return;
        this.child.stdout!.destroy();
        this.child.stderr!.destroy();
        this.ended(code ?? (signal ? 128 : null), signal);
      }, 1000).unref();
    });
  }

  protected writeLine(s: string): void {
    if (this.child.stdin!.writable) this.child.stdin!.write(s);
  }

  close(): void {
    if (!this.exited) this.child.stdin!.end();
  }

  kill(): void {
    if (this.exited || this.killed) return;
    this.killed = true;
    this.child.kill('SIGTERM');
    // a remote shell that SIGTERM does not end (a stopped process: the catcher itself where the remote
    // shell execs it; one that ignores it) would hold this process after its report: SIGKILL 2 s later
    setTimeout(() => { if (!this.exited) this.child.kill('SIGKILL'); }, 2000).unref();
  }
}

// one TLS context for every daemon connection of a push (one each costs
// 0.3 ms on the benchmark machine: 60 ms for 200 targets)
let pskContext: tls.SecureContext | null = null;

/** A multicatcher --daemon on the target, over TLS 1.2 with the pre-shared key (ECDHE-PSK, ChaCha20-Poly1305). */
export class DaemonCatcher extends CatcherChannel {
  readonly via = 'the daemon';
  private sock: tls.TLSSocket;
  private secure = false;

  constructor(readonly host: string, port: number, psk: Buffer, connectTimeoutMs = 15_000) {
    super();
    const addr = host.replace(/^\[(.*)\]$/, '$1');
    this.sock = tls.connect({
      host: addr, port, secureContext: (pskContext ??= tls.createSecureContext(PSK_TLS)),
      pskCallback: () => ({ psk, identity: PSK_TLS.identity }),
      checkServerIdentity: () => undefined,
    });
    this.sock.setNoDelay(true); // the session's lines go at once (no Nagle wait for the daemon's delayed ACK)
    this.sock.setEncoding('utf8');
    this.sock.setTimeout(connectTimeoutMs, () => {
      if (!this.secure) this.sock.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
    });
    this.sock.on('secureConnect', () => { this.secure = true; this.sock.setTimeout(0); });
    this.sock.on('data', (d: string) => this.onData(d));
    this.sock.on('error', (e: NodeJS.ErrnoException) => {
      if (this.secure) { this.stderrTail += `connection to the daemon failed: ${e.code ?? e.message}`; return; }
      // a TLS alert is the daemon refusing our key; a reset or a close without one is the daemon
      // shedding connections (too many pending handshakes: a flood, see its log) or going away
      const wrongKey = /alert|bad record mac|decrypt/i.test(e.message);
      this.spawnError = wrongKey
        ? `daemon at ${host}:${port} refused the session: TLS handshake failed (not the daemon's key?)`
        : e.code === 'ECONNRESET' || e.code === 'EPIPE'
          ? `daemon at ${host}:${port} closed the connection before the TLS handshake was done (too many connections pending there? see the daemon's log)`
          : `cannot connect to the daemon at ${host}:${port}: ${e.code ?? e.message}`;
    });
    this.sock.on('close', () => {
      if (!this.secure && !this.spawnError) this.spawnError = `daemon at ${host}:${port} closed the connection before the TLS handshake was done (too many connections pending there? see the daemon's log)`;
      if (this.catcherEnd) this.ended(this.catcherEnd.code, this.catcherEnd.signal);
      else this.ended(this.secure && this.heard ? 0 : 1);
    });
  }

  private catcherEnd: { code: number | null; signal: string | null } | null = null;

  protected override onExitLine(l: Extract<CatcherLine, { t: 'exit' }>): void {
    const code = Number.isInteger(l.code) && (l.code as number) >= 0 && (l.code as number) < 256 ? l.code : null;
    const signal = typeof l.signal === 'string' && /^SIG[A-Z0-9]{1,12}$/.test(l.signal) ? l.signal : null;
    this.catcherEnd = { code, signal };
    if (typeof l.stderr === 'string') this.stderrTail += l.stderr.slice(-2000);
  }

  protected writeLine(s: string): void {
    if (this.sock.writable) this.sock.write(s);
  }

  close(): void {
    if (!this.exited) this.sock.end();
  }

  kill(): void {
    if (!this.exited) this.sock.destroy();
  }
}
