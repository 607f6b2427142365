// rtt master: starts rttcatcher on each host through the remote shell,
// multicasts numbered probes (stop-and-wait by default, or paced with -i),
// and times each host's answer with the native loop's own clock: the probe
// carries its send stamp, the answer brings it back, the loop stamps arrival.
import crypto from 'node:crypto';
import { LoopEvent, NativePageLoop, PACKET_OVERHEAD, native, openPageLoop } from '../native';
import { RemoteCatcher, shq } from '../channel/remote';
import { Logger } from '../operator/log';
import { NetOptions, wireOverhead } from '../options';
import { HostFigures, figures } from './stats';
import { PROBE, PROBE_ACK, RttSession } from './session';
import { SESSION_VERSION } from '../wire/session';
import { nowMs } from '../clock';

export interface RttOptions extends NetOptions {
  hosts: string[];
  count: number;
  datagram: number;
  intervalMs: number | null;
  timeoutMs: number;
  waitSec: number;
}

export interface RttResult {
  figures: HostFigures[];
  failed: Array<{ host: string; error: string }>;
  seconds: number;
}

interface Host {
  name: string;
  remote: RemoteCatcher;
  state: 'starting' | 'ready' | 'failed';
  probesIn?: boolean; // its rttcatcher said the probes reach it
  error?: string;
  got: Uint8Array;   // 1: answered in time, 2: late
  rttUs: number[];
  late: number;
  dups: number;
  ooo: number;
  maxSeq: number;
}

/** After this many probes with no answer at all, a host is declared silent. */
const SILENT_AFTER = 5;

export class Prober {
  private loop!: NativePageLoop;
  private hosts: Host[] = [];
  private looping = false; // multicast loopback turned on for a catcher on this host
  private sentNs: Float64Array;
  private waiting: { seq: number; resolve: () => void } | null = null;
  private closing = false; // we closed the channels: catchers exiting now is expected
  private readonly key = crypto.randomBytes(32);
  private readonly session = crypto.randomBytes(4).readUInt32BE(0);

  constructor(private readonly o: RttOptions, private readonly log: Logger) {
    this.sentNs = new Float64Array(o.count);
  }

  async run(): Promise<RttResult> {
    const t0 = nowMs();
    this.loop = openPageLoop({
      family: this.o.family, group: this.o.group, port: this.o.port, bindPort: this.o.port - 1, ifname: this.o.ifname,
      ttl: this.o.ttl, loopback: this.o.loopback, join: false, key: this.key, sender: 0,
      pageSize: Math.max(64, this.o.datagram - PACKET_OVERHEAD), rateBps: 10e9, wireOverhead: wireOverhead(this.o.family), rcvbuf: 8 << 20, sndbuf: 8 << 20,
      napUs: 0,
    }, (evs) => this.onEvents(evs));
    try {
      await this.launch();
      const live = this.hosts.filter((h) => h.state === 'ready');
      if (live.length) await this.probe();
    } finally {
      this.closing = true;
      for (const h of this.hosts) h.remote.close();
      await this.waitExits();
      this.loop.stop();
    }
    const ok = this.hosts.filter((h) => h.state === 'ready');
    return {
      figures: ok.map((h) => figures(h.name, this.o.count, h.rttUs, h.late, h.dups, h.ooo)),
      failed: this.hosts.filter((h) => h.state === 'failed').map((h) => ({ host: h.name, error: h.error ?? 'failed' })),
      seconds: (nowMs() - t0) / 1000,
    };
  }

  /** This machine's address as the probes leave it (undefined if unknown: the catchers join by route). */
  private ownAddress(): string | undefined {
    try {
      return native.multicastSource(this.o.family, this.o.group, this.o.port, this.o.ifname);
    } catch {
      return undefined;
    }
  }

  private launch(): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => { if (!this.hosts.some((h) => h.state === 'starting')) { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => {
        for (const h of this.hosts) if (h.state === 'starting') this.fail(h, `rttcatcher did not start within ${this.o.waitSec} s`);
        check();
      }, this.o.waitSec * 1000);
      const master = this.ownAddress();
      this.o.hosts.forEach((name, i) => {
        const remote = new RemoteCatcher(name, this.o.rsh, shq(this.o.remotePath));
        const h: Host = { name, remote, state: 'starting', got: new Uint8Array(this.o.count), rttUs: [], late: 0, dups: 0, ooo: 0, maxSeq: -1 };
        this.hosts.push(h);
        remote.on('line', (l) => {
          if (l.t === 'ready' && h.state === 'starting') {
            h.state = 'ready';
            if (l.here === true) this.loopBack(name);
          }
          else if (l.t === 'heard') h.probesIn = true;
          else if (l.t === 'fatal') this.fail(h, l.msg);
          check();
        });
        remote.on('exit', () => {
          if (h.state !== 'failed' && !this.closing) this.fail(h, remote.exitReason('remote shell failed'));
          check();
        });
        const p: RttSession = {
          v: SESSION_VERSION, rtt: true, session: this.session, key: this.key.toString('hex'), sender: i + 1, host: name,
          family: this.o.family, group: this.o.group, port: this.o.port, ttl: this.o.ttl, loopback: this.o.loopback,
          datagram: this.o.datagram, master,
        };
        remote.start(p);
      });
    });
  }

  /** A catcher on this host: the probes loop back to it (options.ts isOwnAddress). */
  private loopBack(host: string): void {
    if (this.o.loopback || this.looping) return;
    this.looping = this.loop.setLoopback(true);
    this.log.debug(`${host} runs on this machine: multicast loopback on`);
  }

  private fail(h: Host, why: string): void {
    if (h.state === 'failed') return;
    h.state = 'failed';
    h.error = why;
    this.log.error(`${h.name}: ${why}`);
    h.remote.close();
    this.maybeRelease();
  }

  private async probe(): Promise<void> {
    const payload = Buffer.alloc(this.o.datagram - PACKET_OVERHEAD);
    const timeoutNs = this.o.timeoutMs * 1e6;
    const start = nowMs();
    for (let seq = 0; seq < this.o.count; seq++) {
      if (!this.hosts.some((h) => h.state === 'ready')) return;
      this.sentNs[seq] = native.monoNs();
      this.loop.sendControl(PROBE, 0, seq, payload, false, true);
      if (this.o.intervalMs === null) {
        await this.answered(seq, this.o.timeoutMs);
      } else {
        const next = start + (seq + 1) * this.o.intervalMs;
        await sleep(Math.max(0, next - nowMs()));
      }
      this.checkSilent(seq, timeoutNs);
    }
    if (this.o.intervalMs !== null) await this.answered(this.o.count - 1, this.o.timeoutMs);
  }

  /** A host that has not answered any of its first probes (each past its timeout) is named and left out. */
  private checkSilent(seq: number, timeoutNs: number): void {
    const now = native.monoNs();
    const due = [];
    for (let s = 0; s <= seq; s++) if (now - this.sentNs[s] > timeoutNs) due.push(s);
    if (due.length < Math.min(SILENT_AFTER, this.o.count)) return;
    for (const h of this.hosts) {
      if (h.state === 'ready' && h.rttUs.length === 0 && h.late === 0) {
        this.fail(h, `rttcatcher never answered (${due.length} probes, ${this.o.timeoutMs} ms each): ` + (h.probesIn
          ? `the probes reach it (it said so), none of its answers reached UDP port ${this.o.port - 1} here: this machine's firewall?`
          : `none of the probes reached it: its firewall (UDP port ${this.o.port}), IGMP snooping without a querier, the interface`));
      }
    }
  }

  private answered(seq: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      // eslint-disable-next-line @typescript-eslint/no-this-alias
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.waiting?.resolve === done) self.waiting = null;
        resolve();
      }
      this.waiting = { seq, resolve: done };
      this.maybeRelease();
    });
  }

  private maybeRelease(): void {
    const w = this.waiting;
    if (!w) return;
    const all = this.hosts.every((h) => h.state !== 'ready' || h.got[w.seq] !== 0);
    if (all) w.resolve();
  }

  private onEvents(evs: LoopEvent[]): void {
    for (const e of evs) {
      if (e.kind !== 'control' || e.type !== PROBE_ACK || e.sender < 1 || e.sender > this.hosts.length) continue;
      const h = this.hosts[e.sender - 1];
      const seq = e.index;
      if (h.state !== 'ready' || seq >= this.o.count || !e.payload || e.payload.length !== 8) continue;
      const stamp = Number(e.payload.readBigUInt64BE(0));
      if (Math.abs(stamp - this.sentNs[seq]) > 1e9) continue; // not the stamp of our probe
      if (h.got[seq]) { h.dups++; continue; }
      if (seq < h.maxSeq) h.ooo++;
      h.maxSeq = Math.max(h.maxSeq, seq);
      const rttNs = e.rxNs - stamp;
      if (rttNs > this.o.timeoutMs * 1e6) { h.got[seq] = 2; h.late++; continue; }
      h.got[seq] = 1;
      h.rttUs.push(rttNs / 1000);
    }
    this.maybeRelease();
  }

  private async waitExits(): Promise<void> {
    const deadline = nowMs() + 5000;
    while (this.hosts.some((h) => !h.remote.exited) && nowMs() < deadline) await sleep(20);
    for (const h of this.hosts) h.remote.kill();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
