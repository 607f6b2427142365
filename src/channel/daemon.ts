// multicatcher --daemon: a standing catcher service for fleets where per-push
// ssh fan-out is unwanted. It listens on TCP with TLS 1.2 PSK (keyfile.ts):
// only a master holding the same key file completes the handshake. Each
// session gets its own catcher process, fed the master's session header with
// the daemon's --root imposed (session.confine), so every path it writes is
// resolved beneath that root (beneath.ts), whatever the master asks.
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { PSK_TLS } from './keyfile';
import { display, isRoot, pathProblem } from '../wire/paths';
import { LINE_TAG, confinedBackupProblem } from '../wire/session';
import { UserError } from '../errors';
import { programScript } from '../native';
import { nowMs } from '../clock';

export interface DaemonOptions {
  root: string;
  psk: Buffer;
  listen: string;
  port: number;
  maxSessions: number;
  log: (msg: string) => void;
  handshakeTimeoutMs?: number; // HANDSHAKE_TIMEOUT_MS unless given (tests)
}

const HEADER_LIMIT = 64 << 10;
const HEADER_TIMEOUT_MS = 10_000;
/**
 * A host without the key can open connections and never finish their TLS
 * handshake. Each one costs a descriptor and memory until it is closed, so:
 * a handshake not done within this is closed; at most this many are pending
 * at once in all and from one address (a connection beyond is closed at
 * once): a master holding the key, from another address, always finds room.
 */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
export const MAX_PENDING = 128;
export const MAX_PENDING_PER_PEER = 8;
/**
 * A master whose machine dies (power, a kernel panic) or is cut off mid-push
 * closes nothing: without TCP keepalive its session's catcher would wait for
 * ever and hold a session (--max-sessions) with it. Probes start after this
 * long idle, a second apart, ten of them (Node's): about 70 s in all, past
 * the master's default -w (60 s), so a cut it would wait out is waited out
 * here too. A master that is only stopped (^Z) answers them: its kernel does.
 */
const KEEPALIVE_MS = Number(process.env.MRSYNC_TEST_KEEPALIVE_MS) || 60_000;
/** Refusals are logged once per address per minute, then counted: a flood does not flood the log. */
const REFUSAL_LOG_MS = 60_000;

function fatalLine(msg: string): string {
  return LINE_TAG + JSON.stringify({ t: 'fatal', msg }) + '\n';
}

/** The daemon's root, checked: an existing directory, as its real path. */
export function checkDaemonRoot(root: string): string {
  let real: string;
  try {
    real = fs.realpathSync(root);
  } catch (e) {
    throw new UserError(`--root ${root}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as NodeJS.ErrnoException).code}`);
  }
  if (!fs.statSync(real).isDirectory()) throw new UserError(`--root ${root} is not a directory`);
  return real;
}

/** One log line per address and reason per REFUSAL_LOG_MS; the rest are counted and summed up later. */
class RefusalLog {
  private seen = new Map<string, { at: number; more: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: (msg: string) => void) {}

  note(from: string, why: string): void {
    const key = `${from}\0${why}`;
    const now = nowMs();
    const s = this.seen.get(key);
    if (s && now - s.at < REFUSAL_LOG_MS) { s.more++; return; }
    if (this.seen.size >= 4096) this.flush(); // a flood from many addresses: sum up now, keep memory bounded
    this.seen.set(key, { at: now, more: 0 });
    this.log(`refused a connection from ${from}: ${why}`);
    this.timer ??= setInterval(() => this.flush(), REFUSAL_LOG_MS).unref();
  }

  private flush(): void {
    const now = nowMs();
    for (const [key, s] of this.seen) {
      if (s.more) {
        const [from, why] = key.split('\0');
        this.log(`refused ${s.more} more connection(s) from ${from} in the last minute: ${why}`);
        s.more = 0;
        s.at = now;
      } else if (now - s.at >= REFUSAL_LOG_MS) {
        this.seen.delete(key);
      }
    }
    if (!this.seen.size && this.timer) { clearInterval(this.timer); this.timer = null; }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

export class Daemon {
  private server: tls.Server;
  private readonly refusals: RefusalLog;
  // connections whose TLS handshake is not done: in all, and per address
  private pending = new Set<net.Socket>();
  private pendingFrom = new Map<string, number>();
  // sessions from a finished handshake to their end: reading the header, or a catcher running
  private sessions = 0;
  private children = new Set<ChildProcess>();
  private readonly catcherJs = programScript('multicatcher');
  // a catcher started ahead of the next session (Node.js up, its code
  // loaded, waiting for a header on stdin): a push does not wait ~0.1 s of
  // CPU per target for it to start. Made after listen() and a second after
  // each session ends (not while one starts or ends: it would compete for the CPU).
  private spare: { child: ChildProcess; onErr: (d: string) => void; onExit: () => void } | null = null;
  private closing = false;

  constructor(private readonly o: DaemonOptions) {
    this.refusals = new RefusalLog(o.log);
    this.server = tls.createServer({
      ...PSK_TLS,
      pskIdentityHint: PSK_TLS.identity,
      pskCallback: (_sock, identity) => (identity === PSK_TLS.identity ? o.psk : null),
      handshakeTimeout: o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    }, (sock) => this.onSession(sock));
    // before the TLS layer sees it: a connection beyond the caps is closed at once
    this.server.prependListener('connection', (raw: net.Socket) => this.onConnection(raw));
    // Node leaves the socket open after a failed or timed-out handshake: it is closed here
    this.server.on('tlsClientError', (e: NodeJS.ErrnoException, sock) => {
      const why = e.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? `no TLS handshake within ${(o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS) / 1000} s`
        : /alert|mac|psk|decrypt/i.test(e.message) ? 'TLS handshake failed (wrong key?)' : `TLS handshake failed: ${e.code ?? e.message}`;
      this.refusals.note(peer(sock), why);
      sock.destroy();
    });
  }

  /** A new TCP connection: counted as pending until its handshake is done or it closes; over a cap, closed. */
  private onConnection(raw: net.Socket): void {
    const from = peer(raw);
    const mine = this.pendingFrom.get(from) ?? 0;
    if (this.pending.size >= MAX_PENDING || mine >= MAX_PENDING_PER_PEER) {
      this.refusals.note(from, this.pending.size >= MAX_PENDING
        ? `${MAX_PENDING} TLS handshakes pending (a flood?)` : `${MAX_PENDING_PER_PEER} TLS handshakes pending from this address`);
      raw.destroy();
      return;
    }
    this.pending.add(raw);
    this.pendingFrom.set(from, mine + 1);
    raw.setKeepAlive(true, KEEPALIVE_MS);
    raw.once('close', () => this.handshakeOver(raw));
  }

  private handshakeOver(raw: net.Socket): void {
    if (!this.pending.delete(raw)) return;
    const from = peer(raw);
    const n = (this.pendingFrom.get(from) ?? 1) - 1;
    if (n > 0) this.pendingFrom.set(from, n);
    else this.pendingFrom.delete(from);
  }

  /** The TCP port listened on (the one asked for, or the kernel's pick for 0). */
  get port(): number { return (this.server.address() as net.AddressInfo).port; }

  /** Connections whose handshake is pending, for tests and the log. */
  get pendingHandshakes(): number { return this.pending.size; }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (e: NodeJS.ErrnoException) => reject(new UserError(`cannot listen on ${this.o.listen} port ${this.o.port}: ${e.code ?? e.message}`)));
      this.server.listen(this.o.port, this.o.listen, () => {
        this.o.log(`listening on ${this.o.listen} port ${this.port}, root ${this.o.root}`);
        this.prepareSpare();
        resolve();
      });
    });
  }

  /** Stop listening; end every session (their catchers clean up); resolve when all are gone or after 5 s. */
  async close(): Promise<void> {
    this.closing = true;
    this.server.close();
    this.refusals.close();
    for (const raw of this.pending) raw.destroy();
    if (this.spare) { const c = this.spare.child; this.spare = null; c.stdin?.end(); c.once('exit', () => this.children.delete(c)); this.children.add(c); }
    for (const c of this.children) c.stdin?.end();
    const deadline = nowMs() + 5000;
    while (this.children.size && nowMs() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.children) c.kill('SIGKILL');
  }

  // A spare compiles all its code as it loads (--no-lazy), before the session
  // that takes it: V8 otherwise compiles each function at its first call, and
  // those first calls (the header, the first OPEN, the manifest's plan) are
  // each a wait of the push (a 1 KiB push to a daemon: 28-43 ms from the
  // connect to the results instead of 43-59, commit 4931b94). A catcher
  // started for a session that found no spare loads lazily (its load is then
  // on the push's clock).
  private spawnCatcher(spare: boolean): ChildProcess {
    return spawn(process.execPath, spare ? ['--no-lazy', this.catcherJs] : [this.catcherJs], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: spare ? { ...process.env, MRSYNC_SPARE: '1' } : process.env,
    });
  }

  private prepareSpare(): void {
    if (this.closing || this.spare) return;
    const child = this.spawnCatcher(true);
    const onErr = (d: string): void => this.o.log(`spare catcher: ${d.trimEnd()}`);
    const onExit = (): void => {
      // it died waiting (killed by hand?): the next session starts its own, and a new spare follows in 5 s
      if (this.spare?.child !== child) return;
      this.spare = null;
      setTimeout(() => this.prepareSpare(), 5000).unref();
    };
    child.stdin!.on('error', () => { /* it ended */ });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', onErr);
    child.on('exit', onExit);
    this.spare = { child, onErr, onExit };
  }

  /** The spare catcher if it is alive (it is no longer the spare), else a new one. */
  private takeCatcher(): { child: ChildProcess; warm: boolean } {
    const s = this.spare;
    this.spare = null;
    if (s && s.child.exitCode === null && s.child.signalCode === null) {
      s.child.stderr!.off('data', s.onErr);
      s.child.off('exit', s.onExit);
      return { child: s.child, warm: true };
    }
    return { child: this.spawnCatcher(false), warm: false };
  }

  private onSession(sock: tls.TLSSocket): void {
    const from = peer(sock);
    for (const raw of this.pending) {
      if (raw.remotePort === sock.remotePort && raw.remoteAddress === sock.remoteAddress) { this.handshakeOver(raw); break; }
    }
    sock.setNoDelay(true); // a catcher's lines (needs, done) go at once, not after the master's delayed ACK (Nagle)
    // sessions are counted from here (the header is still to come), not from their catcher's start:
    // masters arriving together cannot start more than --max-sessions
    if (this.sessions >= this.o.maxSessions) {
      this.o.log(`refused a session from ${from}: ${this.sessions} sessions running (--max-sessions)`);
      sock.end(fatalLine(`daemon busy: ${this.sessions} sessions running`));
      return;
    }
    // a session ends when its connection has closed and its catcher (if one started) has exited
    this.sessions++;
    let ends = 1;
    let ended = false;
    const endOne = (): void => { if (!ended && --ends === 0) { ended = true; this.sessions--; } };
    sock.once('close', endOne);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(), HEADER_TIMEOUT_MS);
    sock.once('close', () => clearTimeout(timer));
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > HEADER_LIMIT) { clearTimeout(timer); sock.destroy(); }
        return;
      }
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      ends++;
      this.startCatcher(sock, from, buf.subarray(0, nl), buf.subarray(nl + 1), endOne);
    };
    sock.on('data', onData);
    sock.on('error', () => { /* close follows */ });
  }

  private startCatcher(sock: tls.TLSSocket, from: string, headerLine: Buffer, rest: Buffer, done: () => void): void {
    let header: Record<string, unknown>;
    let dst: Buffer;
    try {
      header = JSON.parse(headerLine.toString('utf8')) as Record<string, unknown>;
      if (!header || typeof header !== 'object' || typeof header.dst !== 'string') throw new Error('bad session header');
      dst = Buffer.from(header.dst, 'base64');
      const why = isRoot(dst) ? null : pathProblem(dst);
      if (why) throw new Error(`target path ${display(dst)} is not a path inside the daemon's root (${why})`);
      const bwhy = confinedBackupProblem(header.sync);
      if (bwhy) throw new Error(bwhy);
    } catch (e) {
      this.o.log(`refused a session from ${from}: ${(e as Error).message}`);
      sock.end(fatalLine((e as Error).message));
      done();
      return;
    }
    // the daemon's root, never the master's idea of it
    header.confine = Buffer.from(this.o.root).toString('base64');
    const session = typeof header.session === 'number' ? header.session.toString(16).padStart(8, '0') : '?';
    const { child, warm } = this.takeCatcher();
    this.children.add(child);
    this.o.log(`session ${session} from ${from}: into ${path.join(this.o.root, display(dst))}${warm ? '' : ' (no spare catcher: started one)'}`);
    child.stdin!.on('error', () => { /* the catcher ended */ });
    child.stdin!.write(JSON.stringify(header) + '\n');
    if (rest.length) child.stdin!.write(rest);
    sock.pipe(child.stdin!);
    child.stdout!.pipe(sock, { end: false }); // (ended on the catcher's close, after the line that says how it ended)
    child.stderr!.setEncoding('utf8');
    let stderrTail = '';
    child.stderr!.on('data', (d: string) => {
      this.o.log(`session ${session}: ${d.trimEnd()}`);
      stderrTail = (stderrTail + d).slice(-2000);
    });
    sock.resume();
    sock.on('close', () => {
      child.stdin!.end();
      // a catcher that outlives its connection (stopped, say: SIGTERM does not end a stopped process) would
      // hold its session (--max-sessions) for ever: SIGTERM 5 s on, SIGKILL 5 s after that
      const running = (): boolean => child.exitCode === null && child.signalCode === null;
      setTimeout(() => {
        if (!running()) return;
        child.kill('SIGTERM');
        setTimeout(() => { if (running()) child.kill('SIGKILL'); }, 5000).unref();
      }, 5000).unref();
    });
    child.on('close', (code, signal) => {
      this.children.delete(child);
      done();
      this.o.log(`session ${session} from ${from}: ended (${signal ?? `exit ${code}`})`);
      // how it ended, for the master's report (a catcher killed, out of memory: not "exit 0")
      if (sock.writable) sock.write(LINE_TAG + JSON.stringify({ t: 'exit', code, signal, stderr: stderrTail }) + '\n');
      sock.end();
      // a second later: not while the master and this host finish the push
      setTimeout(() => this.prepareSpare(), 1000).unref();
    });
  }
}

function peer(sock: net.Socket): string {
  return sock.remoteAddress ? sock.remoteAddress.replace(/^::ffff:(?=\d+\.)/, '') : 'unknown';
}
