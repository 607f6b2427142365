// The master's per-file state machine: OPEN until every target that needs
// the file has acked, pages, EOF rounds collecting missing-page runs, repair
// with their union, until every such target is done, dropped or sat out.
// No I/O here: events in, actions out, so it is tested without a network.
import { MissingInfo } from '../wire/protocol';
import { unionRuns } from '../wire/runs';
import { RepairPlan, planRepair } from './repair';
import { FailureCode } from '../errors';

export type Phase = 'opening' | 'sending' | 'eof' | 'finished';

export type FlowAction =
  | { a: 'open'; again?: boolean } // again: a re-send of the OPEN
  | { a: 'pages'; runs: Uint32Array | null; parity?: Uint32Array }
  | { a: 'eof'; round: number; again?: boolean } // again: a re-send of the round's EOF
  | { a: 'finished' };

export interface FlowTiming {
  retryMs: number;     // first re-send of an unanswered OPEN/EOF
  eofRetryMs?: () => number; // first re-send of an unanswered EOF, if not retryMs (the targets' answer times, as they go)
  maxRetryMs: number;  // back-off cap
  sitOutRounds: number; // repair rounds without 10% progress before a target sits out
  parity?: boolean;     // repair with parity pages where targets lost different pages (default true)
  busyRetryMs?: number; // EOF again after this long when every awaited target said it is verifying (default 250)
  tailPageMs?: () => number; // 0 unless nothing is left to open; then a page's line time (ms): EOF rounds may repair with a margin (repair.ts)
}

/**
 * A smoothed answer time and its mean deviation (ms), as TCP's
 * retransmission timer keeps them (RFC 6298): a re-send waits for the usual
 * answer and four deviations.
 */
export class AnswerTime {
  private mean = 0;
  private dev = 0;

  sample(ms: number): void {
    if (this.mean === 0) { this.mean = ms; this.dev = ms / 2; return; }
    this.dev = 0.75 * this.dev + 0.25 * Math.abs(ms - this.mean);
    this.mean = 0.875 * this.mean + 0.125 * ms;
  }

  /** The usual answer (smoothed), 0 while nothing is known. */
  get typical(): number { return this.mean; }

  /** The usual answer and four deviations, within [floor, cap] (floor while nothing is known). */
  timeout(floor: number, cap: number): number {
    return Math.min(cap, Math.max(floor, Math.round(this.mean + 4 * this.dev)));
  }
}

export interface TargetOutcome { ok: boolean; message: string; code: FailureCode; satOut?: boolean; deferred?: boolean }

/** No action (frozen: a caller that added to it would throw). */
const NOTHING: FlowAction[] = Object.freeze([]) as unknown as FlowAction[];

export class FileFlow {
  phase: Phase;
  readonly pending: Set<number>;
  readonly outcomes = new Map<number, TargetOutcome>();
  round = 0;
  rounds = 0;          // repair rounds (re-sends) so far
  pagesResent = 0;     // plain and parity
  parityPages = 0;
  private nextParity = new Map<number, number>();
  phaseSince: number;
  private acked = new Set<number>();
  private answers = new Map<number, MissingInfo>();
  private busy = new Set<number>(); // answered this EOF round with "wait": verifying, its Done will come
  private nextRetry = 0;
  private retry: number;
  private best = new Map<number, { missing: number; round: number }>();

  constructor(readonly object: number, readonly pages: number, needers: Iterable<number>,
              private readonly timing: FlowTiming, now: number, opened = false) {
    this.pending = new Set(needers);
    this.retry = timing.retryMs;
    this.phaseSince = now;
    this.phase = opened ? 'sending' : 'opening';
  }

  /**
   * What to send for the targets' answers (an EOF round's, or a checkpoint's
   * during the first pass: no margin, the next checkpoint or EOF asks again
   * anyway); counted as re-sent.
   */
  repair(answers: Uint32Array[], marginBudget = 0): RepairPlan {
    const plan = planRepair(answers, this.pages, this.nextParity, this.timing.parity !== false, marginBudget);
    this.pagesResent += plan.pages;
    this.parityPages += plan.parityPages;
    return plan;
  }

  /** First actions once the flow is created. */
  start(now: number): FlowAction[] {
    if (this.pending.size === 0) return this.finish();
    if (this.phase === 'sending') return [{ a: 'pages', runs: null }];
    this.armRetry(now, true);
    return [{ a: 'open' }];
  }

  /**
   * A target answered this round's EOF with "wait" (it has every page and is
   * verifying): its Done comes by itself, so the EOF is not repeated for it at
   * the short interval; once every target still awaited is in that state the
   * next EOF waits busyRetryMs (a lost Done is still asked for again).
   */
  onWait(t: number, round: number, now: number): void {
    if (this.phase !== 'eof' || round !== this.round || !this.pending.has(t) || this.answers.has(t)) return;
    this.busy.add(t);
    for (const u of this.pending) if (!this.answers.has(u) && !this.busy.has(u)) return;
    this.nextRetry = Math.max(this.nextRetry, now + (this.timing.busyRetryMs ?? 250));
  }

  /** Targets whose answer we are waiting for now (silence counts against them). */
  waitingOn(): number[] {
    return this.phase === 'opening' || this.phase === 'eof' ? [...this.pending].filter((t) => this.isWaitingOn(t)) : [];
  }

  /** Whether t is one of waitingOn() (without making the list: once per answer from hundreds of targets). */
  isWaitingOn(t: number): boolean {
    if (!this.pending.has(t)) return false;
    if (this.phase === 'opening') return !this.acked.has(t);
    if (this.phase === 'eof') return !this.answers.has(t);
    return false;
  }

  onOpenOk(t: number, now: number): FlowAction[] {
    if (this.phase !== 'opening' || !this.pending.has(t)) return [];
    this.acked.add(t);
    return this.maybeAllOpen(now);
  }

  onSent(now: number): FlowAction[] {
    if (this.phase !== 'sending') return [];
    return this.startEof(now);
  }

  onMissing(t: number, round: number, info: MissingInfo, now: number): FlowAction[] {
    if (this.phase !== 'eof' || round !== this.round || !this.pending.has(t)) return [];
    const prev = this.answers.get(t);
    // a target may split its runs over several datagrams: merge them
    this.answers.set(t, prev ? { total: info.total, runs: unionRuns([prev.runs, info.runs]) } : info);
    return this.maybeAllAnswered(now);
  }

  onDone(t: number, outcome: TargetOutcome, now: number): FlowAction[] {
    if (!this.pending.has(t)) return [];
    this.pending.delete(t);
    this.outcomes.set(t, outcome);
    return this.afterRemoval(now);
  }

  /** A slow target: stop waiting for it here; the master sends it this file again later (catch-up). */
  setAside(t: number, now: number): FlowAction[] {
    if (!this.pending.has(t)) return [];
    this.answers.delete(t);
    return this.onDone(t, { ok: false, satOut: true, deferred: true, message: 'deferred: slow target', code: 'NOT_DELIVERED' }, now);
  }

  /** The target left the run (dropped), or the file is given up on (code says why): stop waiting for it. */
  drop(t: number, why: string, now: number, code: FailureCode = 'NOT_DELIVERED'): FlowAction[] {
    return this.onDone(t, { ok: false, message: why, code }, now);
  }

  tick(now: number): FlowAction[] {
    if (now < this.nextRetry) return NOTHING; // every flow, every tick: no array each
    if (this.phase === 'opening') { this.armRetry(now, false); return [{ a: 'open', again: true }]; }
    if (this.phase === 'eof') { this.armRetry(now, false); return [{ a: 'eof', round: this.round, again: true }]; }
    return [];
  }

  private armRetry(now: number, reset: boolean): void {
    const first = this.phase === 'eof' && this.timing.eofRetryMs ? this.timing.eofRetryMs() : this.timing.retryMs;
    this.retry = reset ? first : Math.min(this.timing.maxRetryMs, this.retry * 2);
    this.nextRetry = now + this.retry;
  }

  private afterRemoval(now: number): FlowAction[] {
    if (this.pending.size === 0) return this.finish();
    if (this.phase === 'opening') return this.maybeAllOpen(now);
    if (this.phase === 'eof') return this.maybeAllAnswered(now);
    return [];
  }

  private maybeAllOpen(now: number): FlowAction[] {
    for (const t of this.pending) if (!this.acked.has(t)) return [];
    this.phase = 'sending';
    this.phaseSince = now;
    return [{ a: 'pages', runs: null }];
  }

  private startEof(now: number): FlowAction[] {
    this.phase = 'eof';
    this.phaseSince = now;
    this.round++;
    this.answers.clear();
    this.busy.clear();
    this.armRetry(now, true);
    return [{ a: 'eof', round: this.round }];
  }

  private maybeAllAnswered(now: number): FlowAction[] {
    for (const t of this.pending) if (!this.answers.has(t)) return [];
    // sit-out: a target whose missing count has not fallen by 10% for
    // sitOutRounds rounds stops holding the others back
    const out: FlowAction[] = [];
    for (const [t, info] of this.answers) {
      const b = this.best.get(t);
      if (!b || info.total < b.missing * 0.9) this.best.set(t, { missing: info.total, round: this.round });
      else if (this.round - b.round >= this.timing.sitOutRounds) {
        this.pending.delete(t);
        this.answers.delete(t);
        this.outcomes.set(t, { ok: false, satOut: true, message: `sat out with ${info.total} pages missing`, code: 'SAT_OUT' });
      }
    }
    if (this.pending.size === 0) return this.finish();
    // at the tail, a margin may cost at most the line time this round took to answer (another round's cost)
    const pageMs = this.timing.tailPageMs?.() ?? 0;
    const budget = pageMs > 0 ? Math.floor((now - this.phaseSince) / pageMs) : 0;
    const plan = this.repair([...this.answers.values()].map((a) => a.runs), budget);
    if (plan.pages === 0) {
      // every answer said "missing" without runs; ask again
      return out.concat(this.startEof(now));
    }
    this.rounds++;
    this.phase = 'sending';
    this.phaseSince = now;
    return out.concat([{ a: 'pages', runs: plan.runs, parity: plan.parityPages ? plan.parity : undefined }]);
  }

  private finish(): FlowAction[] {
    if (this.phase === 'finished') return [];
    this.phase = 'finished';
    return [{ a: 'finished' }];
  }
}
