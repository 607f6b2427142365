// The send rate when --rate does not fix it: found from the targets' own
// counts (Msg.Stat, every 100 ms from each catcher, spread out with many
// targets) of the data datagrams they received and of those they should have
// received: the master numbers its data datagrams (the header's seq), so a
// target's loss is exact and no clock or delay enters it. The
// worst target governs, as the original's monitor had it, but without a
// round trip per page: a 6% increase per 100 ms while every target keeps up,
// a decrease to what got through (at most to a quarter) when one loses more
// than a few percent.
// Pure (no I/O): master.ts feeds it and applies rate().

export interface RateOptions {
  start: number;   // bits/s
  max: number;     // --max-rate
  min: number;
}

/** Loss above this at any target: slow down. Below LOW at all: speed up. Random loss of 1% sits between. */
export const HIGH = 0.04;
export const LOW = 0.015;

interface TargetMeter { atMs: number; recv: number; expected: number; loss: number | null; slowCount: number }

/** Evaluations in a row with a target far behind while the others keep up before it is called slow. */
const SLOW_AFTER = 5;

export class RateControl {
  private r: number;
  private meters = new Map<number, TargetMeter>();
  private slow = new Set<number>();   // set aside: they no longer govern the rate
  private newlySlow: number[] = [];
  detectSlow = true;
  private lastChange = 0;
  private lastDecrease = 0;
  readonly history: number[] = []; // the rate at each change, for the report

  constructor(private readonly o: RateOptions) {
    this.r = Math.min(o.start, o.max);
    this.history.push(this.r);
  }

  rate(): number { return this.r; }

  /**
   * A target's report: cumulative data datagrams received and expected,
   * heard at nowMs. The counts start at zero with the target's catcher, so
   * its first report is judged too (from zero): with hundreds of targets each
   * reports once a second or less often, and waiting for a second report
   * left the start's rate unjudged for two seconds.
   */
  stat(target: number, nowMs: number, recv: number, expected: number): void {
    const m = this.meters.get(target) ?? { atMs: nowMs, recv: 0, expected: 0, loss: null, slowCount: 0 };
    this.meters.set(target, { atMs: nowMs, recv, expected, loss: m.loss, slowCount: m.slowCount });
    const want = expected - m.expected;
    if (want < 30) { this.meters.get(target)!.expected = m.expected; this.meters.get(target)!.recv = m.recv; return; } // too few to judge: keep adding
    const got = recv - m.recv;
    const loss = Math.max(0, Math.min(1, 1 - got / want));
    this.meters.get(target)!.loss = m.loss === null ? loss : 0.5 * m.loss + 0.5 * loss;
  }

  forget(target: number): void { this.meters.delete(target); this.slow.delete(target); }

  /** Targets found slow since the last call: one far behind while the others keep up. */
  takeSlow(): number[] { const s = this.newlySlow; this.newlySlow = []; return s; }

  /** Catch-up: the set-aside targets govern again. */
  clearSlow(): void { this.slow.clear(); this.detectSlow = false; for (const m of this.meters.values()) m.loss = null; }

  /** Every tick: adjust; returns the new rate if it changed. */
  tick(nowMs: number): number | null {
    if (nowMs - this.lastChange < 100) return null;
    const fresh = [...this.meters].filter(([t, m]) => m.loss !== null && nowMs - m.atMs <= 1000 && !this.slow.has(t));
    const suspects = new Set<number>();
    if (this.detectSlow && fresh.length >= 2) {
      // one target losing a lot while the rest keep up is a slow target, not a
      // slow network: it does not pull the rate down while it is watched, and
      // after SLOW_AFTER evaluations it is set aside (the master defers its files)
      const losses = fresh.map(([, m]) => m.loss!).sort((a, b) => a - b);
      const median = losses[Math.floor((losses.length - 1) / 2)];
      for (const [t, m] of fresh) {
        if (m.loss! > HIGH && median < LOW) {
          suspects.add(t);
          if (++m.slowCount >= SLOW_AFTER) { this.slow.add(t); this.newlySlow.push(t); }
        } else {
          m.slowCount = 0;
        }
      }
    }
    let worst: number | null = null;
    for (const [t, m] of fresh) if (!this.slow.has(t) && !suspects.has(t)) worst = Math.max(worst ?? 0, m.loss!);
    if (worst === null) return null;
    let next = this.r;
    if (worst > HIGH && nowMs - this.lastDecrease > 300) {
      // what got through is about what the path takes: go there at once (at most to a quarter)
      next = Math.max(this.o.min, this.r * Math.max(0.25, Math.min(0.85, 1 - worst)));
      this.lastDecrease = nowMs;
      for (const m of this.meters.values()) m.loss = null; // judge the new rate afresh
    } else if (worst < LOW) {
      next = Math.min(this.o.max, this.r * 1.06);
    }
    this.lastChange = nowMs;
    if (Math.abs(next - this.r) < 1) return null;
    this.r = next;
    this.history.push(next);
    return next;
  }
}
