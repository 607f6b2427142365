// The send rate when --rate does not fix it, found from the targets' reports
// (Msg.Stat from each catcher: every 50 ms for its first two seconds of data,
// then every statMs from a random phase): the data datagrams it received and
// those it should have (the master numbers them), and its own clock. Per
// report interval that gives, at each target, what was offered (the
// sender's rate as the numbering shows it) and what was delivered: delivery,
// not the loss rate, is what finds the bottleneck (a shaper or a link
// delivers its rate, whatever is offered above it), and loss only says
// whether the sender overshot. In the manner of TCP BBR, for a group:
//
// - Startup: from the start rate (START, or the rate the last push to these
//   targets reached if it found no bottleneck; half what the probe train
//   came through at as soon as the targets say it, wire/train.ts), doubled every two of the
//   targets' early report intervals (session.ts earlyStatMs: 25 ms with up to
//   ten targets, 50 ms with more; 300 ms at most) while every target
//   delivers what was offered in its interval; it
//   ends when one does not (a bottleneck), delivers under QUEUED of what
//   the sender sends while it sends at its rate (a queue filling in front
//   of a bottleneck: delayed, not yet lost) in two reports in a row, or
//   most targets in one under PAST_QUEUED once the rate is past what the
//   probe train came through at (the path the train measured), or at
//   shared loss, and the rate goes to the group's estimate. A sender that sent less than the rate
//   (waiting for acks, small files: app-limited) does not grow it past twice
//   what it sent.
// - Cruise: the rate is the group's estimate, the lowest of each (not set
//   aside) target's highest delivery over its last WINDOW samples, a sample
//   spanning SAMPLE_NS of the target's clock at least (a catcher that read
//   its counts late is not a burst above the path) and counting the
//   target's usual random loss back in (its lowest loss of late, if under
//   LOSSY), so random loss does not wear the estimate down. One span in
//   eight probes 1.25x and the next drains 0.85x (a span: a round or a
//   sample, or longer at a low rate, where a report needs longer to count
//   enough datagrams); probes delivered whole two cycles in a row (the
//   estimate up by GREW each time) are a wider path: startup again.
// - From the rate the last push to these targets found its bottleneck at,
//   startup grows 1.25x a step, not 2x. Loss most targets share (the sender's
//   overshoot) cuts the rate to what got through, at once; loss one target
//   has alone never touches the group's rate, and neither does loss a target
//   has as usual (its link's own random loss: the median of its recent
//   losses, up to USUAL_MAX, or up to LAN_MAX what it lost at rates well
//   under what the group was seen to deliver) or as chance on a report's
//   count would. The
//   estimate before such a cut is kept: once no loss is shared, an estimate under RECOVER_KNOWN of it
//   grows back to it by startup steps (doubling up to half of it), since a
//   burst of loss is not a narrower path; and any startup grows past it (or
//   past the probe train's reading) 1.25x a step, not 2x.
// - Set aside: a target that loses more than LOSSY while most do not, for
//   SLOW_AFTER of its reports in a row, is a slow target (a slower link, a
//   busy machine), not a slow network: it no longer counts (push.ts defers
//   its files to a catch-up, where it governs again); at most a tenth of the
//   targets (one if fewer than ten).
// Pure (no I/O): push.ts feeds it reports and ticks and applies rate().

import { lowEstimate } from '../wire/train';

export interface RateOptions {
  start: number;   // bits/s
  found?: boolean; // start is where the last push to these targets found the bottleneck: no doubling from it
  max: number;     // --max-rate
  min: number;
  roundMs: number;  // how often the rate is looked at (about twenty targets' reports)
  reportMs: number; // each target's report interval: a change is judged on reports made after it
  earlyMs?: number; // its report interval in its first two seconds of data (session.ts earlyStatMs): the startup's pace
  datagramBits: number; // one data datagram on the wire (page, header, tag, Ethernet/IP/UDP)
}

/** Where the rate starts with nothing known about these targets (bits/s). */
export const START = 10e6;
/** Data datagrams the sender's history must span before their mean size replaces a full datagram's. */
const MIX_MIN = 200;
/** Samples in a target's delivery window (its highest is its estimate). */
const WINDOW = 10;
/** A round in which more than this share of the targets lost more than LOSSY is the sender's overshoot. */
const SHARED = 0.5;
const LOSSY = 0.1;
/**
 * A target's usual loss counts as its link's own up to this share (a median
 * of its losses above it is the sender's overshoot going on, not a lossy
 * link: a start at 40x the path loses 97% report after report).
 */
const USUAL_MAX = 0.12;
/**
 * A rate at most this share of what the group was seen to deliver is under
 * the path (unless the path narrowed by half): loss there is the link's own.
 */
const LOW = 0.8;
/** The link's own loss, learned at such rates, counts as its usual loss up to this share (above USUAL_MAX). */
const LAN_MAX = 0.3;
/** How long a target's losses at such rates must have been over LOSSY before they say its link's (a burst of loss on the LAN is shorter). */
const LAN_SPAN_NS = 1e9;
/** Reports a target's losses must span before it has a usual loss (its first: a start above the path, a catcher still booting). */
const USUAL_AFTER = WINDOW / 2;
/** Rounds in a row a target delivers under half of the others' before it is set aside. */
const SLOW_AFTER = 5;
/** The probe cycle, in spans (a round, or the time a report needs to count a probe at a low rate): probe, drain, cruise. */
const CYCLE = [1.25, 0.85, 1, 1, 1, 1, 1, 1];
/** Datagrams a target's report needs before it is a sample. */
const MIN_SAMPLE = 20;
/** Startup: a target delivering under this share of what the sender sends is behind a queue. */
const QUEUED = 0.75;
/** Startup past the probe train's reading: one report from most targets delivering under this share of what was sent is the bottleneck. */
const PAST_QUEUED = 0.9;
/** An estimate below this share of the probe train's reading, with no shared loss, grows back by startup steps. */
const RECOVER = 0.5;
/** Or below this share of the estimate before the last cut for shared loss (a burst of loss, not a narrower path). */
const RECOVER_KNOWN = 0.8;
/** How many times in a row a push does that without reaching it (a train that read high, a path that narrowed). */
const MAX_RECOVERIES = 3;
/** A cycle's probe that raised the estimate this much found a wider path: startup again. */
const GREW = 1.15;
/**
 * The shortest span of a target's clock a delivery sample covers (ns): a
 * catcher on a busy machine takes its counts a few ms late now and then (the
 * datagrams wait in its socket), which over one 50 ms interval reads as a
 * burst above the path, and the window's highest sample keeps it.
 */
const SAMPLE_NS = 100e6;

interface Point { atNs: number; recv: number; expected: number }

interface Meter {
  points: Point[];         // its reports (clock, cumulative counts) of the last SAMPLE_NS and the one before: the last is its last report
  delivered: number[];     // bits/s, its last WINDOW samples (not app-limited)
  raw: number[];           // bits/s, what got through in each of them (no loss added back)
  losses: number[];        // its last WINDOW losses
  lowLosses: Array<[number, number]>; // its last WINDOW losses at a rate under LOW of what the group was seen to deliver (offered bits/s, loss)
  heavySince?: number;     // its clock when their median went over LOSSY, if it is (ns)
  lan: number;             // its link's own loss as those show it (LAN_MAX at most; 0: not known)
  lastLoss: number | null; // of its last sample
  lastN: number;           // the datagrams its last sample counted (how far its loss may stray by chance)
  usual: number;           // its usual loss: the median of its losses before the last, USUAL_MAX (or its lan) at most (the link's own, random)
  lastOffered: number;     // bits/s
  lastDelivered: number;   // bits/s, what got through in its last sample
  lastSample: number;      // bits/s, what the path took in it (random loss added back)
  lastSent?: number;       // bits/s, what the sender sent over the same interval (its own history), if known
  queued: number;          // its reports in a row that fell behind what was sent (QUEUED)
  fresh: boolean;          // reported since the last round
  lossRound: number;       // the round its last loss came in
  slowRounds: number;
}

/** The median of xs (0 if none). */
function median(xs: number[]): number {
  if (!xs.length) return 0;
  const a = [...xs].sort((x, y) => x - y);
  const h = a.length >> 1;
  return a.length % 2 ? a[h] : (a[h - 1] + a[h]) / 2;
}

/** A train reading under this share of the targets' median is a slow port's. */
const TRAIN_SLOW = 0.5;

/**
 * What the rate starts from, of the targets' estimates (target: bits/s).
 * slow: the targets the train read under half of the median, if they are a
 * few (a tenth of the targets at most, one of up to nineteen; more are the
 * path, not a few slow ports) of three or more (of two, one read 2-4x
 * high, as a shaper's burst may make it, would leave the other out, and
 * the rate start above both paths); low: the low end (lowEstimate) of the
 * others. A slow one does not set the start: the rate starts above its
 * port, and its loss there sets it aside (tick). Started from its
 * reading, its 8 Mbit/s port held three targets that take 100 to its pace
 * (the startup ended at its first lag, a queue, no loss yet; in the cruise
 * it lost only in the probes).
 */
export function trainStart(est: Map<number, number>): { low: number | null; slow: number[] } {
  const ok = [...est].filter(([, b]) => Number.isFinite(b) && b > 0);
  const mid = median(ok.map(([, b]) => b));
  const under = ok.length > 2 ? ok.filter(([, b]) => b < TRAIN_SLOW * mid) : [];
  const slow = under.length <= Math.max(1, Math.floor(est.size / 10)) ? under.map(([t]) => t) : [];
  return { low: lowEstimate(ok.filter(([t]) => !slow.includes(t)).map(([, b]) => b)), slow };
}

/**
 * Whether a target's last report lost more than its link's own random loss
 * explains: over LOSSY, and over its usual loss by half of that, each by more
 * than two standard deviations of a count of that size. A LAN that drops 10%
 * at random at every target read as the sender's overshoot cut the rate
 * round after round, down to the floor (the rate simulator: 1 Mbit/s on a
 * 200 Mbit/s path, and on the testbed a push to 10 targets with 10% loss
 * ran at 0.8 Mbit/s); an overshoot adds the share it drops on top.
 */
function overshot(m: Meter): boolean {
  return (m.lastLoss ?? 0) > LOSSY + chance(m) && above(m, LOSSY / 2);
}

/** Two standard deviations of a loss counted on the target's last report, at its usual loss. */
function chance(m: Meter): number {
  const p = Math.max(m.usual, 0.01);
  return 2 * Math.sqrt((p * (1 - p)) / Math.max(1, m.lastN));
}

/** Whether the target's last loss is over its usual loss by more than margin, and more than chance. */
function above(m: Meter, margin: number): boolean {
  return (m.lastLoss ?? 0) > m.usual + margin + chance(m);
}

export class RateControl {
  private r: number;
  private phase: 'startup' | 'cruise' = 'startup';
  private meters = new Map<number, Meter>();
  private slow = new Set<number>();   // set aside: they no longer govern the rate
  private newlySlow: number[] = [];
  private detectSlow = true;
  private round = 0;                  // rounds with reports so far
  private cycleAt = 0;                // when the probe cycle began (ms)
  private lastWire: number | undefined; // bytes of data datagrams sent, at the last round
  private sentHist: Array<[number, number, number]> = []; // (ms, data datagrams, their wire bytes, sent so far), every tick of the last two seconds
  private bits: number;               // bits per data datagram on the wire, as the sender's last two seconds had them (bitsOf's fallback)
  private fullRounds = 0;             // rounds in a row the sender sent at its rate (not app-limited)
  private lastRound = -Infinity;
  private est = 0;                    // the group's delivery estimate (bits/s)
  private cycleEst = 0;               // the estimate when this probe cycle began
  private grown = 0;                  // cycles in a row whose probe raised the estimate by GREW
  private gain = 2;                   // startup's growth per step
  private holdUntil = 0;              // a change is judged on reports that cover the rate it made
  private probe = 0;                  // what the probe train came through at (bits/s; 0: no train)
  private recoveries = 0;             // times in a row the estimate, far below the probe's reading or the known one, grew back by startup steps and fell short
  private recovering = false;         // such a startup: up to recoverTo, no further
  private recoverTo = 0;              // bits/s
  private known = 0;                  // the group's estimate before its last cut for shared loss (bits/s; 0: none)
  private heavy = 0;                  // most of the group lose over LOSSY at rates under LOW of seen (their links' own loss): the median of theirs
  private seen = 0;                   // the most the group delivered (its slowest's median sample, no loss added back; bits/s)
  readonly history: number[] = [];    // the rate at each change, for the report

  constructor(private readonly o: RateOptions) {
    this.r = Math.max(o.min, Math.min(o.start, o.max));
    this.bits = o.datagramBits;
    this.history.push(this.r);
    // from a rate a bottleneck was found at, startup grows by a probe's gain, not doubling (doubling past a
    // bottleneck overshoots it four times before the reports show it)
    if (o.found) this.gain = CYCLE[0];
  }

  rate(): number { return this.r; }

  /**
   * What the next push to these targets may start at (bits/s): the group's
   * estimate once a bottleneck was found; a push that ended still doubling
   * found none below what it reached: what every target delivered at best,
   * and no less than where it started (nothing showed that start too high).
   */
  settled(): { bps: number; found: boolean } | null {
    if (this.est <= 0) return null;
    return this.phase === 'cruise' ? { bps: this.est, found: true } : { bps: Math.max(this.est, this.history[0]), found: false };
  }

  /**
   * The probe train's estimate of the path (bits/s: the low end over the
   * targets, wire/train.ts): the startup goes on from half of it, if that is
   * above where it is, or from the estimate itself if it is below. Half: a shaper's burst or a coarse clock may read
   * high, and one doubling from there reaches the path in two report
   * intervals, where the startup's own checks find the bottleneck; past the
   * probe's rate it grows 1.25x a step. Nothing once the startup has found
   * one (or where the last push found it).
   */
  probed(bps: number, nowMs: number): number | null {
    if (this.o.found || !(bps > 0)) return null;
    this.probe = bps; // kept if the startup already ended: an estimate far below it grows back (tick)
    if (this.phase !== 'startup') return null;
    // a start above the path (10 Mbit/s on a 5 Mbit/s link) comes down to it; one far below goes up to half of it
    const to = bps < this.r ? bps : 0.5 * bps > this.r ? 0.5 * bps : this.r;
    if (to === this.r) return null;
    this.holdUntil = nowMs + this.stepMs(); // judged on reports that cover the new rate
    return this.set(to);
  }

  /**
   * A target's report: cumulative data datagrams received and expected, and
   * its clock (ns). Its first report only starts its meter.
   */
  stat(target: number, atNs: number, recv: number, expected: number, rxMs?: number): void {
    const m = this.meters.get(target);
    if (!m) {
      // its counts start at zero with its catcher, its clock does not: what got through of what was offered
      // (taken to be the rate) is judged at once; with hundreds of targets a report comes once a second
      const first: Meter = { points: [{ atNs, recv, expected }], delivered: [], raw: [], losses: [], lowLosses: [], lan: 0, lastLoss: null, lastN: 0, usual: 0, lastOffered: 0, lastDelivered: 0, lastSample: 0, fresh: false, lossRound: 0, slowRounds: 0, queued: 0 };
      if (expected >= 20) {
        first.lastLoss = 1 - Math.min(1, recv / expected);
        first.lastN = expected;
        first.fresh = true;
      }
      this.meters.set(target, first);
      return;
    }
    const last = m.points[m.points.length - 1];
    const now = { atNs, recv, expected };
    if (expected - last.expected < MIN_SAMPLE || atNs <= last.atNs) return; // too few to judge: the next report covers a longer interval
    // a report's interval by the master's clock: its length by the target's, ending when it came in
    const since = (p: Point): number | undefined => (rxMs === undefined ? undefined : rxMs - (atNs - p.atNs) / 1e6);
    const sentLast = this.sentBetween(since(last), rxMs);
    const { offered, delivered } = this.between(last, now, this.bitsOf(sentLast));
    m.lastLoss = 1 - delivered / offered;
    m.lastN = now.expected - last.expected;
    // loss at a rate well under what the group was seen to deliver is the link's own, however heavy (with the
    // usual loss capped at USUAL_MAX, 15% lost at random at every target cut the rate round after round to its
    // floor): the median of those at the lower half of the rates offered there (a path that narrowed below LOW
    // of it loses more the more is offered; the link's own loss does not), once they have been over LOSSY for
    // LAN_SPAN_NS of the target's clock and the upper half does not lose less (a burst of loss ending)
    if (this.seen > 0 && offered <= LOW * this.seen && !this.slow.has(target)) {
      m.lowLosses.push([offered, m.lastLoss]);
      if (m.lowLosses.length > WINDOW) m.lowLosses.shift();
      m.lan = 0;
      // (heavy since when: their median over LOSSY, without a break)
      if (m.lowLosses.length < USUAL_AFTER || median(m.lowLosses.map(([, l]) => l)) <= LOSSY) m.heavySince = undefined;
      else m.heavySince ??= atNs;
      if (m.heavySince !== undefined && atNs - m.heavySince >= LAN_SPAN_NS) {
        const byRate = [...m.lowLosses].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
        const h = Math.ceil(byRate.length / 2);
        const lower = median(byRate.slice(0, h)), upper = median(byRate.slice(h));
        if (upper >= lower - LOSSY / 2 - chance(m)) m.lan = Math.min(LAN_MAX, upper <= lower + LOSSY / 2 + chance(m) ? median(byRate) : lower);
      }
    }
    // (a target whose own reports there were too few or too noisy to say, where most of the group's say heavy
    // loss: the group's, up to its own usual)
    const past = m.losses.length >= USUAL_AFTER ? median(m.losses) : undefined; // its losses' median, once there are enough
    const lan = m.lan > LOSSY ? m.lan : this.heavy > 0 && past !== undefined ? Math.min(this.heavy, past) : 0;
    m.usual = past !== undefined ? Math.min(Math.max(USUAL_MAX, lan), past) : 0;
    m.lastOffered = offered;
    m.fresh = true;
    // what the path took: what got through, less the random loss the target has anyway (its lowest loss
    // of late: a probe's drain round, say); a sample where the sender offered much less than the rate says
    // nothing of what the path takes above it
    m.losses.push(m.lastLoss);
    if (m.losses.length > WINDOW) m.losses.shift();
    m.lastDelivered = delivered;
    // loss every recent interval had above LOSSY is overshoot, not the link's own: nothing to add back
    const base = Math.min(...m.losses);
    // (or, heavier, the loss it had at rates well under the path: the link's own)
    const addBack = 1 - Math.max(base <= LOSSY ? base : 0, lan > LOSSY ? lan : 0);
    m.lastSample = Math.min(offered, delivered / addBack);
    // what the sender sent over the interval this report covers (its length by the target's clock, ending
    // about when the report came in, or at the sender's last tick): a queue in front of the bottleneck shows as delivery falling behind
    // it; an interval that straddles a change of the rate (or the sender's idle spell) compares with what
    // was sent, not with the rate now
    m.lastSent = sentLast && (sentLast.wire * 8 * 1000) / sentLast.ms;
    // a queue keeps delivery behind report after report; a target that did not read its socket for a while
    // (its CPU busy) falls behind in one report and catches up in the next
    m.queued = m.lastSent !== undefined && m.lastSample < QUEUED * m.lastSent ? m.queued + 1 : 0;
    // the windowed sample spans SAMPLE_NS at least: from the latest report that far back
    m.points.push(now);
    while (m.points.length > 2 && atNs - m.points[1].atNs >= SAMPLE_NS) m.points.shift();
    const spanSent = this.sentBetween(since(m.points[0]), rxMs);
    const span = this.between(m.points[0], now, this.bitsOf(spanSent));
    if (span.offered >= 0.5 * this.r) {
      m.delivered.push(Math.min(span.offered, span.delivered / addBack));
      if (m.delivered.length > WINDOW) m.delivered.shift();
      // (what the group was seen to deliver: only from samples whose datagrams' size the sender's history gives)
      if (spanSent && spanSent.datagrams >= MIN_SAMPLE) {
        m.raw.push(Math.min(span.offered, span.delivered));
        if (m.raw.length > WINDOW) m.raw.shift();
      }
    }
  }

  /**
   * The data datagrams, and their bytes on the wire, the sender sent between
   * two of its own times; undefined outside its history, or if either time is
   * not known (a report without its arrival time). An interval that
   * ends after the history's last tick (a report read between ticks) is
   * taken as long, ending there: what the ticks since did not count yet is
   * not read as sending nothing (with 25 ms reports and 10 ms ticks that
   * would read up to 40% low).
   */
  private sentBetween(fromMs: number | undefined, toMs: number | undefined): { datagrams: number; wire: number; ms: number } | undefined {
    if (fromMs === undefined || toMs === undefined) return undefined;
    const h = this.sentHist;
    const last = h.length ? h[h.length - 1][0] : 0;
    if (toMs > last) { fromMs -= toMs - last; toMs = last; }
    if (h.length < 2 || fromMs < h[0][0] || toMs <= fromMs) return undefined;
    const at = (ms: number, k: 1 | 2): number => {
      let i = h.length - 1;                     // the last entry at or before ms
      while (i > 0 && h[i][0] > ms) i--;
      if (i === h.length - 1) return h[i][k];
      const t0 = h[i][0], t1 = h[i + 1][0], s0 = h[i][k], s1 = h[i + 1][k];
      return s0 + ((s1 - s0) * (ms - t0)) / (t1 - t0);
    };
    return { datagrams: at(toMs, 1) - at(fromMs, 1), wire: at(toMs, 2) - at(fromMs, 2), ms: toMs - fromMs };
  }

  /**
   * Bits per data datagram on the wire, of those the sender sent in a
   * report's interval (sentBetween): a target's counts are taken at that
   * size, so that a change from small files to big ones, or back, is not read
   * as a narrower or wider path; the sender's last two seconds if the
   * interval is not known or holds too few datagrams.
   */
  private bitsOf(sent: { datagrams: number; wire: number } | undefined): number {
    return sent && sent.datagrams >= MIN_SAMPLE ? (sent.wire * 8) / sent.datagrams : this.bits;
  }

  /** What was offered to a target and what it received between two of its reports (bits/s), its counts taken at bits a datagram. */
  private between(a: Point, b: Point, bits: number): { offered: number; delivered: number } {
    const dt = (b.atNs - a.atNs) / 1e9;
    const want = b.expected - a.expected;
    const got = Math.max(0, Math.min(want, b.recv - a.recv));
    return { offered: (want * bits) / dt, delivered: (got * bits) / dt };
  }

  forget(target: number): void { this.meters.delete(target); this.slow.delete(target); }

  /** Targets found slow since the last call. */
  takeSlow(): number[] { const s = this.newlySlow; this.newlySlow = []; return s; }

  /** Catch-up: the set-aside targets govern again (and no one is set aside any more). */
  clearSlow(): void {
    this.slow.clear();
    this.detectSlow = false;
    // (and their links' own loss is learned anew: a rate low for the others may have been over their paths)
    for (const m of this.meters.values()) { m.delivered = []; m.raw = []; m.slowRounds = 0; m.lowLosses = []; m.lan = 0; m.heavySince = undefined; }
    this.seen = 0;
    this.phase = 'startup'; // their paths are other ones: found anew, from the rate they had
    this.gain = 2;
    this.probe = 0;
    this.known = 0;
  }

  /**
   * Every tick: a new round every roundMs; returns the new rate if it changed.
   * sentSoFar: the data datagrams sent so far, and their bytes on the wire,
   * if known (what the sender managed to send this round, app-limited or
   * not); else the targets' reports say what was offered. The targets count
   * datagrams, the sender paces bytes: their counts are taken at the mean
   * size of the datagrams the sender sent in the interval a report covers
   * (bitsOf; small files end in short pages: taken at a full page's size,
   * a tree of them read as a wider path than it is, and the sender paced its
   * bytes above the bottleneck).
   */
  tick(nowMs: number, sentSoFar?: () => { datagrams: number; wireBytes: number }): number | null {
    const sent = sentSoFar?.();
    if (sent) {
      this.sentHist.push([nowMs, sent.datagrams, sent.wireBytes]);
      while (this.sentHist.length > 2 && this.sentHist[1][0] < nowMs - 2000) this.sentHist.shift();
      const [, d0, w0] = this.sentHist[0];
      if (sent.datagrams - d0 >= MIX_MIN) this.bits = ((sent.wireBytes - w0) * 8) / (sent.datagrams - d0);
    }
    if (nowMs - this.lastRound < this.o.roundMs) return null;
    const sentBps = sent && this.lastWire !== undefined && nowMs > this.lastRound
      ? ((sent.wireBytes - this.lastWire) * 8 * 1000) / (nowMs - this.lastRound) : undefined;
    this.lastWire = sent?.wireBytes;
    this.lastRound = nowMs;
    this.fullRounds = sentBps !== undefined && sentBps >= 0.9 * this.r ? this.fullRounds + 1 : 0;
    const fresh = [...this.meters].filter(([t, m]) => !this.slow.has(t) && m.fresh && m.lastLoss !== null);
    const counted = [...this.meters].filter(([t, m]) => !this.slow.has(t) && m.delivered.length > 0);
    const reported = new Set(fresh.map(([t]) => t));
    for (const [, m] of this.meters) m.fresh = false;
    if (!fresh.length) return null;
    this.round++;
    for (const [, m] of fresh) m.lossRound = this.round;
    // loss most targets share is the sender's; loss a few have alone is theirs (a slower port, a busy
    // machine): judged on every target's last loss of the last two report intervals, not only this round's
    // (at a low rate or with hundreds of targets a round has few reports, maybe only the lossy one's)
    const recent = this.round - 2 * Math.ceil(this.o.reportMs / this.o.roundMs);
    const known = [...this.meters].filter(([t, m]) => !this.slow.has(t) && m.lastLoss !== null && m.lossRound >= recent);
    // (a target's own random loss, however heavy, is not the sender's: judged by what its usual loss, and chance
    // on a count of that size, do not explain; a target slower than the rest is found by LOSSY alone, below)
    const cap = Math.max(1, Math.floor(this.meters.size / 10)); // at most this many set aside
    const many = (l: Array<[number, Meter]>): boolean => l.some(([t]) => reported.has(t)) && (l.length > SHARED * known.length || l.length > cap);
    const shared = many(known.filter(([, m]) => overshot(m)));
    // loss over LOSSY that many targets have above their usual (the sender's probe, say) is not a few slow
    // targets' either; a LAN's random loss, their usual, leaves the ones over LOSSY in a round out of the estimate
    const common = shared || many(known.filter(([, m]) => (m.lastLoss ?? 0) > LOSSY && above(m, 0)));
    const suspects = new Set<number>();
    if (common && this.detectSlow && counted.length > 1) {
      // the sender overshot (or the LAN lost at many); those that lost alone before it (up to the cap) stay suspects: they do not
      // pull the group down to their rate, nor count a round towards being set aside
      const before = counted.filter(([, m]) => m.slowRounds > 0 && (m.lastLoss ?? 0) > LOSSY);
      if (before.length <= cap) for (const [t] of before) suspects.add(t);
    }
    if (!common && this.detectSlow && counted.length > 1) {
      // by its last report, fresh this round or not (one that reports less often must not govern between)
      for (const [t, m] of counted) if ((m.lastLoss ?? 0) > LOSSY) suspects.add(t);
      for (const [t, m] of counted) {
        if (!reported.has(t)) continue;
        if (!suspects.has(t)) { m.slowRounds = 0; continue; }
        // its link's own random loss is no slowness: only loss over its usual counts towards being set aside
        // (10% lost at random at every target set aside a tenth of them, each catching up alone: 50 targets
        // at 20 Mbit/s took 36 s instead of 21)
        if (m.losses.length < USUAL_AFTER) continue;
        if (!above(m, LOSSY / 2)) { m.slowRounds = 0; continue; }
        if (++m.slowRounds >= SLOW_AFTER && this.slow.size < cap) { this.slow.add(t); this.newlySlow.push(t); }
      }
    }
    let group = counted.filter(([t]) => !suspects.has(t));
    // every target lost more than LOSSY, and none more than its usual loss explains (heavy random loss at
    // every target, or a mild overshoot gone on so long it is the usual): the group is all of them, its
    // estimate what they deliver (with no group, no decision is made: a rate 1.19x the path was held for good)
    if (!group.length && !shared) group = counted;
    const judge = nowMs >= this.holdUntil; // the reports now in cover the rate the last change made
    if (!group.length) {
      // only first reports so far (they carry loss, not yet a delivery rate): an overshoot shared by most
      // targets is cut at once to what got through
      if (!shared || !judge) return null;
      const losses = fresh.map(([, m]) => m.lastLoss!).sort((a, b) => a - b);
      this.holdUntil = nowMs + this.o.reportMs;
      return this.set(this.r * Math.max(0.25, 1 - losses[Math.floor(losses.length / 2)]));
    }
    // most targets found to lose heavily at rates well under the path: growing back fell short maybe for that
    // loss (read as the path's), and may again
    const lans = group.filter(([, m]) => m.lan > LOSSY).map(([, m]) => m.lan);
    const heavy = lans.length > SHARED * group.length ? median(lans) : 0;
    if (heavy > 0 && !(this.heavy > 0)) this.recoveries = 0;
    this.heavy = heavy;
    const best = (m: Meter): number => Math.max(...m.delivered);
    this.est = Math.min(...group.map(([, m]) => best(m)));
    // (the median of each one's samples: one read high, a queue emptying into a catcher that read its counts late, is not a delivery)
    if (group.every(([, m]) => m.raw.length >= 3)) this.seen = Math.max(this.seen, Math.min(...group.map(([, m]) => median(m.raw))));
    let next = this.r;
    const gfresh = group.filter(([, m]) => m.lastOffered > 0);
    if (this.phase === 'startup') {
      if (!judge) return null;
      // behind: a target's last report shows less delivered than was offered in its interval (loss), or
      // than the sender sends (a queue filling in front of the bottleneck: what arrives is delayed, not yet
      // lost, and the numbering a target sees advances at the bottleneck's rate, not the sender's)
      const offered = sentBps ?? Math.min(...gfresh.map(([, m]) => m.lastOffered));
      // (only while the sender has sent at its rate for a report interval: a sender that waits on
      // handshakes sends in bursts, and a report's interval and the sender's last round do not line up)
      const steady = this.fullRounds * this.o.roundMs >= this.o.reportMs + this.o.roundMs;
      // (with heavy random loss at most targets, by more than chance on the report's count: a 20% loss
      // counted on 50 datagrams strays by 11%, and of 50 targets one always did)
      // past what the probe train came through at (or the group's estimate before its last cut), most
      // targets' reports behind what was sent are the bottleneck the train measured, one they share, not
      // catchers that read their sockets late: one such report each ends the startup (a queue filling there
      // drops what the next step would add). One target behind alone is its own port (the train's low end
      // may be its reading): judged as below, and set aside if it is slow
      const past = Math.max(this.probe, this.known);
      const pastBehind = past > 0 && this.r > past
        ? gfresh.filter(([, m]) => m.lastSent !== undefined && m.lastSample < PAST_QUEUED * m.lastSent).length : 0;
      const behind = shared || pastBehind > SHARED * gfresh.length
        || gfresh.some(([, m]) => m.lastSample < (0.9 - (this.heavy > 0 ? chance(m) : 0)) * m.lastOffered
        || (m.lastSent !== undefined ? m.queued >= 2 : steady && m.lastSample < QUEUED * this.r));
      // a doubling shows in the reports of the interval after it (the one it happened in is mixed); each
      // target's report covers its last interval (a second at hundreds of targets, where a doubling shows
      // well before the interval is over): a step each 300 ms at most
      this.holdUntil = nowMs + this.stepMs();
      // growing back (recovering) to the probe's reading or the known estimate, and the targets deliver it:
      // ended as at a bottleneck (a recovery that got there was right: the count of those in a row that fell short starts again)
      const back = this.recovering && this.r >= this.recoverTo && this.est >= 0.9 * this.recoverTo;
      if (back) this.recoveries = 0;
      if (behind || back) {
        // a bottleneck: what the slowest delivered is what the path takes
        this.phase = 'cruise';
        this.recovering = false;
        next = this.est;
        this.cycleEst = 0;    // growth is judged from the next probe on
        this.grown = 0;
        this.cycleAt = nowMs - this.span(next) + 1; // as if it were a probe ending: the drain next
      } else {
        next = Math.min(this.stepGain() * this.r, 2 * Math.max(offered, this.est)); // app-limited: not past twice what went out
        // past what the probe train came through at, a probe's step (1.25x), not a doubling: the step past the
        // bottleneck overshoots it by a quarter, not by up to twice
        // (or the estimate the group had before its last cut for shared loss: a wider path is found from there)
        const seen = Math.max(this.probe, this.known);
        if (seen > 0 && next > seen) next = Math.min(next, CYCLE[0] * Math.max(this.r, seen));
        if (this.recovering) next = Math.min(next, this.recoverTo); // growing back, not past it
      }
    } else if (shared) {
      if (!judge) return null;
      // the sender overshot: back to what got through (no more than the estimate), judged afresh from here;
      // the estimate before the cut is kept: a burst of loss (not a narrower path) grows back to it
      const got = gfresh.map(([, m]) => m.lastDelivered).filter((d) => d > 0);
      this.known = Math.max(this.known, this.est);
      next = got.length ? Math.min(this.est, ...got) : this.est;
      this.cycleEst = 0;
      this.grown = 0;
      this.cycleAt = nowMs - this.span(next) + 1;
      this.holdUntil = nowMs + this.o.reportMs;
      for (const [, m] of group) m.delivered = m.delivered.slice(-1);
    } else if (!common && judge && this.recoveries < MAX_RECOVERIES && this.recoveryTarget() > 0) {
      // far below what the probe train came through at, or what the group delivered before its last cut,
      // and no shared loss now: the estimate is not the path's but the targets' of a while ago (hundreds of
      // catchers starting on busy machines lose what their sockets cannot hold, a burst of loss on the LAN:
      // read as the sender's overshoot): back up by startup steps (stepGain) while every target keeps
      // up, not by the probe cycle's creep (a minute from a quarter of the path with hundreds of targets);
      // three times in a row at most without getting there (a train that read high, a path that narrowed);
      // not while many targets still lose over LOSSY, above their usual (catchers still booting: a step then
      // fails, and counts against the three)
      this.recoveries++;
      this.recovering = true;
      this.recoverTo = this.recoveryTarget();
      this.phase = 'startup';
      this.holdUntil = nowMs + this.stepMs();
      next = Math.min(this.stepGain() * this.r, this.recoverTo);
    } else if (this.cycleEst > 0 && this.est >= GREW * this.cycleEst && this.grown >= 1) {
      // probes delivered whole two cycles in a row: the path is wider than the estimate (it grew, or a cut
      // went too far on a target's stall): found again by doubling, not a probe a cycle (one cycle's growth
      // may be a burst of reports read late: doubling on it overshoots four times)
      this.phase = 'startup';
      this.gain = 2;
      this.probe = 0; // the train's reading is of the path as it was
      this.cycleEst = 0;
      this.grown = 0;
      this.holdUntil = nowMs + this.o.reportMs;
      next = this.est;
    } else {
      // probe and drain for a span each (a round; longer at a low rate, where a report needs longer to count
      // enough datagrams: a probe shorter than a sample would be lost in it)
      const span = this.span(this.est);
      let at = Math.floor((nowMs - this.cycleAt) / span);
      if (at >= CYCLE.length) {
        this.grown = this.cycleEst > 0 && this.est >= GREW * this.cycleEst ? this.grown + 1 : 0;
        this.cycleAt = nowMs;
        this.cycleEst = this.est;
        at = 0;
      }
      next = this.est * CYCLE[at];
    }
    return this.set(next);
  }

  /**
   * What an estimate far below what was seen grows back to (0: none): the
   * estimate before the last cut for shared loss if it is under RECOVER_KNOWN
   * of that, else the probe train's reading if it is under RECOVER of that.
   */
  private recoveryTarget(): number {
    if (this.known > 0 && this.est < RECOVER_KNOWN * this.known) return this.known;
    if (this.probe > 0 && this.est < RECOVER * this.probe) return this.probe;
    return 0;
  }

  /**
   * The startup's growth per step: its gain; growing back, 1.25x, or
   * doubling up to half of the estimate the group had before its last cut
   * (a delivery measured, where the probe train's reading may be 2-4x high;
   * from half of it, 1.25x: the cut may have been a narrower path, not a
   * burst of loss, and doubling from there would overshoot the new one
   * twice before the reports show it).
   */
  private stepGain(): number {
    if (!this.recovering) return this.gain;
    return this.recoverTo === this.known && 4 * this.r <= this.recoverTo ? 2 : CYCLE[0];
  }

  /** The startup's step: two of the targets' early report intervals, 300 ms at most. */
  private stepMs(): number {
    return Math.min(2 * (this.o.earlyMs ?? this.o.reportMs), 300);
  }

  /** A probe's length at rate r: a round, or at a low rate longer than a report needs to make a sample. */
  private span(r: number): number {
    return Math.max(this.o.roundMs, SAMPLE_NS / 1e6, r > 0 ? (1.5 * MIN_SAMPLE * this.bits * 1000) / r : 0);
  }

  private set(rate: number): number | null {
    const next = Math.max(this.o.min, Math.min(this.o.max, rate));
    if (Math.abs(next - this.r) < 1) return null;
    this.r = next;
    this.history.push(next);
    return next;
  }
}
