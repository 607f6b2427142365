// A simulated LAN for the rate control's tests (rate.test.ts): the sender's
// uplink a bottleneck of C bits/s with a 50 ms drop-tail queue (a tbf shaper,
// as the benchmarks use), each target's own port (its rate and queue) and
// random loss; every target reports its counts and its clock every roundMs
// from a random phase (those of the first two seconds every earlyStatMs), as the catchers do. A target's behaviour may change
// over time (behave): silent (receives, does not report), stalled (a busy
// machine: receives nothing), gone (dropped by the push: forgotten), another
// loss or port rate. jitterMs: a catcher's counts read up to that late (its
// receiving thread not scheduled at once on a busy machine: the datagrams
// wait in the socket) while its clock is read on time. queueMs: the
// uplink's queue (a deeper one delays before it drops). wireBits: the
// datagrams' mean size on the wire (a tree of small files ends many in a
// short page), or that size by the time; the sender paces and the shapers
// count bytes, the targets count datagrams.
import { RateControl, START, trainStart } from '../../src/master/rate';
import { earlyStatMs } from '../../src/wire/session';

export const BITS = 1514 * 8; // one datagram on the wire
export const STEP = 5;        // ms

interface Port { rate: number; queue: number; out: number; recv: number; expectedSeq: number; loss: number; phase: number; inFlight: number[]; reports: number; nextAt: number; lastRecv: number; seen: [number, number][]; frozen?: [number, number] }

export interface Sim { rc: RateControl; rates: number[]; sent: number; dropped: number; slow: number[] }

/** paused: the catcher does not read its socket (its CPU busy): its counts stay where they were, then catch up (nothing lost). */
export interface Behaviour { silent?: boolean; stalled?: boolean; gone?: boolean; loss?: number; rate?: number; paused?: boolean }

export function simulate(o: { capacity: number; ports: number[]; loss?: number[]; seconds: number; start?: number; max?: number; roundMs?: number; seed?: number; jitterMs?: number; found?: boolean; queueMs?: number; wireBits?: number | ((ms: number) => number);
  behave?: (target: number, ms: number) => Behaviour; onRound?: (ms: number, rc: RateControl) => void;
  probe?: { bps: number | number[]; atMs: number } }): Sim { // probe: the targets' estimate from the probe train (wire/train.ts), or each one's, in at atMs
  const roundMs = o.roundMs ?? 50; // each target's report interval
  // the master's round, as push.ts makes it: about twenty targets' reports
  const early = earlyStatMs(roundMs); // reports every early ms in the first two seconds (catcher.ts)
  const EARLY = 2000 / early;
  const rc = new RateControl({ start: o.start ?? START, found: o.found, max: o.max ?? 1e9, min: 1e6, roundMs: Math.max(50, Math.round(roundMs * Math.min(1, 20 / o.ports.length))), reportMs: roundMs, earlyMs: early, datagramBits: BITS });
  const wireBits = o.wireBits;
  const mix = typeof wireBits === 'function' ? wireBits : (): number => wireBits ?? BITS;
  let wire = 0;      // bytes on the wire of the datagrams sent so far
  let seed = o.seed ?? 42;
  const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const ports: Port[] = o.ports.map((rate, i) => ({ rate, queue: 0, out: 0, recv: 0, expectedSeq: 0, loss: o.loss?.[i] ?? 0, phase: STEP * Math.floor((rand() * roundMs) / STEP), inFlight: [], reports: 0, nextAt: 0, lastRecv: 0, seen: [] }));
  const lagSteps = Math.floor((o.jitterMs ?? 0) / STEP);
  const gone = new Set<number>();
  let uplinkQ = 0;
  let seq = 0;       // datagrams numbered so far
  let sent = 0, dropped = 0;
  const rates: number[] = [];
  const slow: number[] = [];
  let carry = 0;
  for (let ms = 0; ms < o.seconds * 1000; ms += STEP) {
    const W = mix(ms);
    // the sender, paced
    carry += (rc.rate() * STEP) / 1000 / W;
    const n = Math.floor(carry);
    carry -= n;
    sent += n;
    wire += (n * W) / 8;
    // the uplink: its queue holds 50 ms; what does not fit is dropped (every target misses it)
    const upMax = (o.capacity * (o.queueMs ?? 50)) / 1000 / W;
    const admitted = Math.min(n, Math.max(0, upMax - uplinkQ));
    dropped += (n - admitted) * ports.length;
    uplinkQ += admitted;
    seq += n;
    const out = Math.min(uplinkQ, (o.capacity * STEP) / 1000 / W);
    uplinkQ -= out;
    for (const [i, p] of ports.entries()) {
      const b = o.behave?.(i, ms) ?? {};
      if (b.gone && !gone.has(i)) { gone.add(i); rc.forget(i); }
      if (gone.has(i)) continue;
      const pRate = b.rate ?? p.rate, pLoss = b.stalled ? 1 : b.loss ?? p.loss;
      const pMax = (pRate * 0.05) / W;
      const adm = Math.min(out, Math.max(0, pMax - p.queue));
      dropped += out - adm;
      p.queue += adm;
      const o2 = Math.min(p.queue, (pRate * STEP) / 1000 / W);
      p.queue -= o2;
      // whole datagrams out of the port: the fractions carried to the next step (rounded each step, a
      // port would read up to a half datagram a step more or less than it passed: 9% at 5 Mbit/s)
      p.out += o2;
      for (; p.out >= 1; p.out--) if (rand() >= pLoss) p.recv++;
      if (o2 > 0) p.expectedSeq = Math.round(seq - uplinkQ - p.queue); // the seq of the last datagram out of its port
      p.seen.push([p.recv, p.expectedSeq]);
      if (p.seen.length > lagSteps + 1) p.seen.shift();
    }
    ports.forEach((p, i) => {
      if (gone.has(i) || o.behave?.(i, ms).silent) return;
      // as the catcher does: the first EARLY every early ms, then every roundMs from a phase of its own
      // paused: its counts stay as they were when the pause began
      if (o.behave?.(i, ms).paused) p.frozen ??= [p.recv, p.expectedSeq];
      else p.frozen = undefined;
      if (ms % early !== 0 || ms < p.nextAt || p.recv === p.lastRecv) return;
      // the counts as the catcher's thread last took them (up to jitterMs late), its clock now
      const [recv, expected] = p.frozen ?? p.seen[Math.max(0, p.seen.length - 1 - Math.floor(rand() * (lagSteps + 1)))] ?? [p.recv, p.expectedSeq];
      if (p.frozen && recv === p.lastRecv) return; // nothing read since its last report: the catcher sends none
      rc.stat(i, ms * 1e6, recv, expected, ms);
      p.lastRecv = p.frozen ? recv : p.recv;
      p.reports++;
      p.nextAt = ms + (p.reports < EARLY ? 0 : p.reports === EARLY ? p.phase : roundMs) - early / 2;
    });
    if (o.probe && ms === o.probe.atMs) {
      const { bps } = o.probe;
      if (typeof bps === 'number') rc.probed(bps, ms);
      else { const t = trainStart(new Map(bps.map((b, i) => [i, b]))); if (t.low !== null) rc.probed(t.low, ms); }
    }
    rc.tick(ms, () => ({ datagrams: seq, wireBytes: wire }));
    o.onRound?.(ms, rc);
    slow.push(...rc.takeSlow());
    rates.push(rc.rate());
  }
  return { rc, rates, sent, dropped, slow };
}

