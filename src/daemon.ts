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
import { UserError } from './options';
import { display, isRoot, pathProblem } from './paths';
import { LINE_TAG } from './session';

export interface DaemonOptions {
  root: string;
  psk: Buffer;
  listen: string;
  port: number;
  maxSessions: number;
  log: (msg: string) => void;
}

const HEADER_LIMIT = 64 << 10;
const HEADER_TIMEOUT_MS = 10_000;

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

export class Daemon {
  private server: tls.Server;
  private children = new Set<ChildProcess>();
  private readonly catcherJs = path.join(__dirname, 'cli', 'multicatcher.js');
  // a catcher started ahead of the next session (Node.js up, its code
  // loaded, waiting for a header on stdin): a push does not wait ~0.1 s of
  // CPU per target for it to start. Made after listen() and a second after
  // each session ends (not while one starts or ends: it would compete for the CPU).
  private spare: { child: ChildProcess; onErr: (d: string) => void; onExit: () => void } | null = null;
  private closing = false;

  constructor(private readonly o: DaemonOptions) {
    this.server = tls.createServer({
      ...PSK_TLS,
      pskIdentityHint: PSK_TLS.identity,
      pskCallback: (_sock, identity) => (identity === PSK_TLS.identity ? o.psk : null),
      handshakeTimeout: HEADER_TIMEOUT_MS,
    }, (sock) => this.onSession(sock));
    this.server.on('tlsClientError', (e, sock) => {
      o.log(`refused a connection from ${peer(sock)}: ${/alert|mac|psk/i.test(e.message) ? 'TLS handshake failed (wrong key?)' : e.message}`);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (e: NodeJS.ErrnoException) => reject(new UserError(`cannot listen on ${this.o.listen} port ${this.o.port}: ${e.code ?? e.message}`)));
      this.server.listen(this.o.port, this.o.listen, () => {
        this.o.log(`listening on ${this.o.listen} port ${this.o.port}, root ${this.o.root}`);
        this.prepareSpare();
        resolve();
      });
    });
  }

  /** Stop listening; end every session (their catchers clean up); resolve when all are gone or after 5 s. */
  async close(): Promise<void> {
    this.closing = true;
    this.server.close();
    if (this.spare) { const c = this.spare.child; this.spare = null; c.stdin?.end(); c.once('exit', () => this.children.delete(c)); this.children.add(c); }
    for (const c of this.children) c.stdin?.end();
    const deadline = Date.now() + 5000;
    while (this.children.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.children) c.kill('SIGKILL');
  }

  // A spare compiles all its code as it loads (--no-lazy), before the session
  // that takes it: V8 otherwise compiles each function at its first call, and
  // those first calls (the header, the first OPEN, the manifest's plan) are
  // each a wait of the push (a 1 KiB push to a daemon: 28-43 ms from the
  // connect to the results instead of 43-59, bench/RESULTS.md). A catcher
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
    sock.setNoDelay(true); // a catcher's lines (needs, done) go at once, not after the master's delayed ACK (Nagle)
    if (this.children.size >= this.o.maxSessions) {
      this.o.log(`refused a session from ${from}: ${this.children.size} sessions running (--max-sessions)`);
      sock.end(fatalLine(`daemon busy: ${this.children.size} sessions running`));
      return;
    }
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(), HEADER_TIMEOUT_MS);
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
      this.startCatcher(sock, from, buf.subarray(0, nl), buf.subarray(nl + 1));
    };
    sock.on('data', onData);
    sock.on('error', () => { /* close follows */ });
  }

  private startCatcher(sock: tls.TLSSocket, from: string, headerLine: Buffer, rest: Buffer): void {
    let header: Record<string, unknown>;
    let dst: Buffer;
    try {
      header = JSON.parse(headerLine.toString('utf8')) as Record<string, unknown>;
      if (!header || typeof header !== 'object' || typeof header.dst !== 'string') throw new Error('bad session header');
      dst = Buffer.from(header.dst, 'base64');
      const why = isRoot(dst) ? null : pathProblem(dst);
      if (why) throw new Error(`target path ${display(dst)} is not a path inside the daemon's root (${why})`);
    } catch (e) {
      this.o.log(`refused a session from ${from}: ${(e as Error).message}`);
      sock.end(fatalLine((e as Error).message));
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
    child.stdout!.pipe(sock);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => this.o.log(`session ${session}: ${d.trimEnd()}`));
    sock.resume();
    sock.on('close', () => {
      child.stdin!.end();
      setTimeout(() => child.kill('SIGTERM'), 5000).unref();
    });
    child.on('close', (code, signal) => {
      this.children.delete(child);
      this.o.log(`session ${session} from ${from}: ended (${signal ?? `exit ${code}`})`);
      sock.end();
      // a second later: not while the master and this host finish the push
      setTimeout(() => this.prepareSpare(), 1000).unref();
    });
  }
}

function peer(sock: net.Socket): string {
  return sock.remoteAddress ? sock.remoteAddress.replace(/^::ffff:(?=\d+\.)/, '') : 'unknown';
}
