// The rate's probe: a packet train. When every catcher is ready, the master
// multicasts TRAIN_LEN datagrams of a page each (Msg.Train, index 0..TRAIN_LEN-1)
// back to back, unpaced; each catcher times their arrivals (the kernel's
// stamps, native/pageloop.cc) and says over its channel at what rate the
// train came through: its path's bottleneck (packet-pair dispersion over a
// train, Keshav 1991; Dovrolis et al. 2001). A token-bucket shaper passes
// the train's head at line rate, so only its last third is timed. The
// master starts the rate at half the lowest of these, leaving out a few far
// below the others (master/rate.ts trainStart, probed): on a 1 Gbit/s LAN
// the startup begins near the path instead of doubling up from 10 Mbit/s
// for a third of a second.

/** Datagrams in a train: 128 pages (185 KB at 1449 bytes), longer than a shaper's usual 64 KB burst. */
export const TRAIN_LEN = 128;
/** How long a catcher collects a train after its first datagram (ms): a train at 2 Mbit/s takes 0.7 s. */
export const TRAIN_MS = 400;
/** How long the master waits for the targets' estimates before it goes on with those it has (ms). */
export const TRAIN_WAIT_MS = 800;
/** A train is over once none of it came for this long (ms): its tail dropped at a full queue. */
export const TRAIN_QUIET_MS = 30;
/** Arrivals a train needs before it says anything. */
const TRAIN_MIN = 24;
/** The shortest span the last third is timed over (ns): finer than interrupt coalescing and clock reads. */
const MIN_SPAN_NS = 50_000;

/**
 * The rate (bits/s on the wire) a train came through at, from its
 * datagrams' indexes and arrival times (ns) and one datagram's wire size in
 * bits: the least-squares slope of arrival time over index for the last
 * third of what arrived (by arrival). A token-bucket shaper passes the
 * train's head at line rate and, its queue full, drops what comes after: the
 * last third is what the bucket held back. A fit, not the two ends: a
 * shaper's timer releases datagrams a few at a time. Under MIN_SPAN_NS for
 * the whole third counts as that long (a very fast path reads as at least
 * so fast). Null with fewer than TRAIN_MIN arrivals (nothing to time).
 */
export function trainRate(arrivals: Array<{ index: number; atNs: number }>, datagramBits: number): number | null {
  if (arrivals.length < TRAIN_MIN) return null;
  const tail = [...arrivals].sort((a, b) => a.atNs - b.atNs).slice(-Math.floor(arrivals.length / 3));
  const n = tail.length;
  const mx = tail.reduce((a, p) => a + p.index, 0) / n;
  const my = tail.reduce((a, p) => a + p.atNs, 0) / n;
  let sxy = 0, sxx = 0;
  for (const p of tail) { sxy += (p.index - mx) * (p.atNs - my); sxx += (p.index - mx) ** 2; }
  if (sxx === 0) return null;
  const perDatagram = Math.max(MIN_SPAN_NS / n, sxy / sxx); // ns per index
  return (datagramBits * 1e9) / perDatagram;
}

/**
 * What the master starts from, of the targets' estimates: the lowest, or
 * with many targets the k-th lowest (k a fiftieth of them: one target on a
 * slower port is set aside and caught up later, it does not hold the start
 * down for all). Null if no target timed the train.
 */
export function lowEstimate(estimates: number[]): number | null {
  const ok = estimates.filter((b) => Number.isFinite(b) && b > 0).sort((a, b) => a - b);
  return ok.length ? ok[Math.floor(ok.length / 50)] : null;
}

/**
 * A catcher's view of the train: each datagram's index and arrival; done
 * (once) with the estimate when the last one came, when none came for
 * TRAIN_QUIET_MS, or TRAIN_MS after the first. Indexes out of range and
 * repeats (anyone with the session key can send them) are ignored: at most
 * TRAIN_LEN arrivals are kept.
 */
export class TrainMeter {
  private readonly at: Array<{ index: number; atNs: number }> = [];
  private readonly seen = new Set<number>();
  private quiet: NodeJS.Timeout | null = null;
  private cap: NodeJS.Timeout | null = null;
  private over = false;

  constructor(private readonly datagramBits: number, private readonly done: (bps: number | null, n: number) => void) {}

  add(index: number, arrivalNs: number): void {
    if (this.over || !Number.isInteger(index) || index < 0 || index >= TRAIN_LEN || this.seen.has(index)) return;
    this.seen.add(index);
    this.at.push({ index, atNs: arrivalNs });
    if (index === TRAIN_LEN - 1 || this.at.length === TRAIN_LEN) { this.end(); return; }
    if (this.quiet) { this.quiet.refresh(); return; }
    this.quiet = setTimeout(() => this.end(), TRAIN_QUIET_MS);
    this.cap = setTimeout(() => this.end(), TRAIN_MS);
  }

  /** Over without a word (the session is ending). */
  stop(): void {
    this.over = true;
    if (this.quiet) clearTimeout(this.quiet);
    if (this.cap) clearTimeout(this.cap);
  }

  private end(): void {
    if (this.over) return;
    this.stop();
    this.done(trainRate(this.at, this.datagramBits), this.at.length);
  }
}
