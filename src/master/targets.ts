// The targets of a push: each one's channel to its catcher, its state from
// launch to its result, what it needs, and what it received. The push
// (push.ts) moves them along; the sender (sender.ts) counts what they got.
import BitSet from 'bitset';
import { CatcherChannel, DaemonCatcher, RemoteCatcher, shq } from '../channel/remote';
import { Logger } from '../operator/log';
import { CatcherLine, LocalCounts, MasterLine, SessionParams } from '../wire/session';
import { TargetReport } from './summary';
import { FailureCode, isFailureCode } from '../errors';
import { failureHint } from '../operator/groups';
import { nowMs } from '../clock';

export type TargetState = 'launching' | 'ready' | 'active' | 'finishing' | 'finished' | 'failed' | 'dropped' | 'interrupted';

export interface Target {
  idx: number;          // its sender id on the wire is idx + 1
  host: string;
  remote: CatcherChannel;
  state: TargetState;
  lastHeard: number;
  stateSince: number;
  needs: BitSet.BitSet | null;
  result?: Extract<CatcherLine, { t: 'result' }>;
  local?: LocalCounts;
  error?: string;
  errorCode?: FailureCode;
  filesOk: number;
  remaining: number;    // files it needs whose flow has not ended for it yet
  bytesOk: number;
  missingPages: number;
  failures: Map<number, { error: string; code: FailureCode }>;
  slowest: { path: string; seconds: number } | null;
  rttUs: number[];      // OPEN -> OPEN_OK round trips, as the original's monitor gathered them
  items: string[];      // -n: itemized changes
  feedback: number;     // control datagrams received from it (OPEN_OK, MISSING, WAIT, DONE)
  multicastSeen: boolean; // it said over its channel that the group's datagrams reach it ('heard', the probe train, a plan)
  answersByChannel: number; // answers it sent over its channel (none of its UDP reached us: push.ts answersCheck); 0: by UDP
  answersAsked: boolean;    // told to answer over its channel
  router: string | null;    // the router it said it reaches us through (not on one of our subnets)
  slow: boolean;        // set aside: far behind the others; its files are deferred to the catch-up
  wasSlow: boolean;
  deferred: number[];   // objects to send it in the catch-up
}

export interface TargetEvents {
  line(t: Target, l: CatcherLine): void;
  exit(t: Target): void;
}

export interface Launch {
  hosts: string[];
  rsh: string[];
  remotePath: string;
  daemon?: { port: number; psk: Buffer };
}

/** Target failures of one cause written on stderr before the rest are left to the report. */
const FAILURES_LOGGED = 10;

export class Targets {
  readonly list: Target[] = [];
  private readonly failuresLogged = new Map<FailureCode, number>();

  constructor(private readonly log: Logger) {}

  /**
   * Start a catcher on every host (all at once): the remote shells first,
   * as the push begins, so that their catchers start while the master opens
   * its socket; start() then hands each its session.
   */
  launch(o: Launch, ev: TargetEvents): void {
    const cmd = shq(o.remotePath);
    o.hosts.forEach((host, idx) => {
      const remote = o.daemon ? new DaemonCatcher(host, o.daemon.port, o.daemon.psk) : new RemoteCatcher(host, o.rsh, cmd);
      const now = nowMs();
      const t: Target = {
        idx, host, remote, state: 'launching', lastHeard: now, stateSince: now, needs: null,
        filesOk: 0, remaining: 0, bytesOk: 0, missingPages: 0, failures: new Map(), slowest: null, rttUs: [], items: [],
        feedback: 0, multicastSeen: false, answersByChannel: 0, answersAsked: false, router: null, slow: false, wasSlow: false, deferred: [],
      };
      this.list.push(t);
      remote.on('line', (l) => { t.lastHeard = nowMs(); ev.line(t, l); });
      remote.on('exit', () => ev.exit(t));
    });
  }

  /** End every launched channel before its session (the push could not begin): the catchers see their stdin close and exit. */
  abandon(): void {
    for (const t of this.list) {
      t.remote.removeAllListeners();
      t.remote.close();
      t.remote.kill();
    }
  }

  /** Hand every launched catcher its session header(idx, host). */
  start(header: (idx: number, host: string) => SessionParams): void {
    for (const t of this.list) t.remote.start(header(t.idx, t.host));
  }

  /** The target whose datagrams carry this sender id, if any. */
  bySender(sender: number): Target | undefined {
    return sender >= 1 && sender <= this.list.length ? this.list[sender - 1] : undefined;
  }

  live(t: Target): boolean {
    return t.state !== 'failed' && t.state !== 'dropped' && t.state !== 'interrupted';
  }

  setState(t: Target, s: TargetState): void {
    t.state = s;
    t.stateSince = nowMs();
    this.log.debug(`state ${s}`, { host: t.host });
  }

  /** Mark t failed, dropped or interrupted and end its channel (killed if it lingers); false if it already was. */
  fail(t: Target, state: 'failed' | 'dropped' | 'interrupted', why: string, code: FailureCode): boolean {
    if (!this.live(t)) return false;
    t.error = why;
    t.errorCode = code;
    this.setState(t, state);
    this.logFailure(t, state, why, code);
    t.remote.close();
    setTimeout(() => t.remote.kill(), 2000).unref();
    return true;
  }

  /**
   * A target out of the run, on stderr: the first few of each cause, with
   * what to check on the first; past that one line says the report groups
   * them (hundreds of unreachable hosts are not hundreds of lines). The log
   * file has every one.
   */
  private logFailure(t: Target, state: TargetState, why: string, code: FailureCode): void {
    const n = (this.failuresLogged.get(code) ?? 0) + 1;
    this.failuresLogged.set(code, n);
    if (state === 'interrupted' || n > FAILURES_LOGGED + 1) { this.log.debug(why, { host: t.host, state }); return; }
    if (n === FAILURES_LOGGED + 1) {
      this.log.debug(why, { host: t.host, state });
      this.log.error(`more targets ${state} (${code}): the report groups them`);
      return;
    }
    const hint = n === 1 ? failureHint(code, why) : null;
    this.log.error(hint ? `${why} (check: ${hint})` : why, { host: t.host, state });
  }

  /** A catcher's log line, labelled with its host. */
  relayLog(t: Target, l: Extract<CatcherLine, { t: 'log' }>): void {
    if (l.level === 'error') this.log.error(l.msg, { host: t.host, from: 'catcher' });
    else if (l.level === 'warn') this.log.warn(l.msg, { host: t.host, from: 'catcher' });
    else this.log.debug(l.msg, { host: t.host, from: 'catcher' });
  }

  send(t: Target, m: MasterLine): void {
    t.remote.send(m);
  }

  closeAll(): void {
    for (const t of this.list) t.remote.close();
  }

  /** Until every catcher has exited (at most ms; then they are killed). */
  async waitExits(ms = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const exits = this.list.map((t) => new Promise<void>((r) => {
      if (t.remote.exited) r();
      else t.remote.once('exit', () => r());
    }));
    await Promise.race([Promise.all(exits), new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
    clearTimeout(timer);
    for (const t of this.list) t.remote.kill();
  }

  /**
   * Launching or finishing targets silent past their budget (-w; at least
   * 5 s to start). A catcher says it is ready over its channel as soon as
   * its socket is open, before any datagram: one that never does was never
   * started (the remote shell waits on a prompt, a login that slow) or is
   * stuck starting, whatever the network does with datagrams.
   */
  silent(now: number, waitMs: number): Array<[Target, string, 'UNREACHABLE' | 'SILENT']> {
    const out: Array<[Target, string, 'UNREACHABLE' | 'SILENT']> = [];
    const startMs = Math.max(waitMs, 5000);
    for (const t of this.list) {
      if (t.state === 'launching' && now - t.stateSince > startMs) {
        out.push(t.remote.heard
          ? [t, `its catcher started but was not ready within ${startMs / 1000} s`, 'SILENT']
          : [t, `no catcher started within ${startMs / 1000} s: ${t.remote.via} said nothing`, 'UNREACHABLE']);
      }
      if (t.state === 'finishing' && now - Math.max(t.lastHeard, t.stateSince) > waitMs) out.push([t, `silent for ${waitMs / 1000} s while finishing`, 'SILENT']);
    }
    return out;
  }

  /** Progress: targets complete (every file they need is through), behind, and out of the run. */
  counts(settled: boolean): { complete: number; behind: number; dropped: number } {
    let complete = 0, behind = 0, dropped = 0;
    for (const t of this.list) {
      if (!this.live(t)) dropped++;
      else if (settled && t.needs !== null && t.remaining <= 0) complete++;
      else behind++;
    }
    return { complete, behind, dropped };
  }

  /** The report's row for t. path(entry) names an entry; size(object) is a file's bytes (for -n). */
  report(t: Target, path: (entry: number) => string, entries: number, dryRun: boolean, size: (object: number) => number,
    unsent: (object: number) => boolean = () => false): TargetReport {
    const failures: TargetReport['failures'] = [];
    for (const [obj, f] of t.failures) failures.push({ path: path(obj - 1), error: f.error, code: f.code });
    let excused = 0; // the result's failures that are the master's: files it could not read (the report names them once)
    if (t.result) {
      for (const f of t.result.failed) {
        if (unsent(f.entry + 1)) { excused++; continue; }
        if (t.failures.has(f.entry + 1) || f.entry >= entries) continue;
        failures.push({ path: path(f.entry), error: f.error, code: isFailureCode(f.code) ? f.code : 'FAILED' });
      }
    }
    let state: TargetReport['state'] = 'OK';
    if (t.state === 'failed') state = t.remote.heard ? 'FAILED' : 'UNREACHABLE';
    else if (t.state === 'dropped') state = 'DROPPED';
    else if (t.state === 'interrupted') state = 'INTERRUPTED';
    else if (failures.length || !t.result || (!t.result.ok && excused < t.result.failed.length)) state = 'FAILED';
    return {
      host: t.host, state, filesSent: t.filesOk, bytesSent: t.bytesOk, needed: t.needs?.cardinality() ?? 0,
      missingPages: t.missingPages, local: t.local, failures, error: t.error, errorCode: t.errorCode, slowest: t.slowest, rttUs: t.rttUs,
      packets: t.result?.packets ?? null, usage: t.result?.usage ?? null, feedback: t.feedback, ...(t.answersByChannel ? { answersByChannel: t.answersByChannel } : {}), slow: t.wasSlow,
      ...(dryRun ? {
        items: t.items,
        wouldSend: { files: t.needs?.cardinality() ?? 0, bytes: (t.needs?.toArray() ?? []).reduce((a, o) => a + size(o), 0) },
      } : {}),
    };
  }
}
