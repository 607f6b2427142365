// Checkpoints of a big file's first pass. Files of CHECK_MIN_PAGES pages or
// more go out in chunks of CHECK_CHUNK_PAGES; after each chunk (but the last)
// the targets are asked what they lack of every page sent so far, and that is
// repaired (parity or plain) ahead of the chunks still queued: a target's
// copy, and the hash it takes in order, keep up with the pass, and at EOF
// only the last chunk is left to repair.
//
// Each checkpoint asks about every page sent so far: what an earlier
// checkpoint's repair did not fix (a lost parity page, a late answer) is
// asked again. Nothing is repaired twice: a checkpoint goes out when its
// chunk job is done, and the repairs of earlier checkpoints (urgent jobs)
// went out before that chunk's last page, ahead of it on the same path.
import { NativePageLoop } from '../native';
import { Logger } from '../operator/log';
import { CHECK_CHUNK_PAGES, Msg, decodeMissing, encodeCheck } from '../wire/protocol';
import { runPages, unionRuns } from '../wire/runs';
import { FileFlow } from './flow';

/** How long a checkpoint waits for the targets' answers before repairing what it was told (the rest waits for EOF). */
const CHECK_WAIT_MS = 100;

/** A checkpoint being answered: per target, what it lacks of the pages sent so far (complete when its runs cover its total). */
export interface Checkpoint { k: number; deadline: number; answers: Map<number, { total: number; runs: Uint32Array }> }

/** What a checkpoint needs of a file in flight (sender.ts Sending). */
export interface Checked {
  flow: FileFlow;
  checks?: number;
  check?: Checkpoint | null;
}

/** Queue a send job for the file: (file, runs, parity, urgent, first pass) -> job id. */
export type QueueJob<S> = (s: S, runs: Uint32Array | null, parity: Uint32Array | undefined, urgent: boolean, firstPass: boolean) => number;

export class Checkpoints<S extends Checked> {
  private at = new Map<number, number>(); // a chunk's job -> the page its checkpoint asks up to
  pages = 0;                              // pages repaired at checkpoints (during first passes)

  constructor(private readonly loop: NativePageLoop, private readonly log: Logger, private readonly queueJob: QueueJob<S>,
    private readonly repaired: (pages: number, parity: number) => void) {}

  /** A big file's first pass: chunk jobs, each followed by a checkpoint (all but the last). */
  firstPass(s: S): void {
    const pages = s.flow.pages;
    s.checks = 0;
    for (let p = 0; p < pages; p += CHECK_CHUNK_PAGES) {
      const end = Math.min(pages, p + CHECK_CHUNK_PAGES);
      const job = this.queueJob(s, Uint32Array.of(p, end - p), undefined, false, true);
      if (end < pages) this.at.set(job, end);
    }
  }

  /** A send job ended: if it was a chunk with a checkpoint after it, ask (alive: the file is still being sent). */
  jobEnded(s: S, job: number, alive: boolean, now: number): void {
    const to = this.at.get(job);
    this.at.delete(job);
    if (to === undefined || !alive) return;
    if (s.check) this.finish(s);
    const k = (s.checks = (s.checks ?? 0) + 1);
    s.check = { k, deadline: now + CHECK_WAIT_MS, answers: new Map() };
    this.loop.sendControl(Msg.Check, s.flow.object, k, encodeCheck(0, to), false);
  }

  /** Target t's answer to checkpoint k; when every target still on the file has answered in full, repair. */
  answer(s: S, t: number, k: number, payload: Buffer): void {
    const c = s.check;
    if (!c || c.k !== k || !s.flow.pending.has(t)) return;
    const info = decodeMissing(payload, s.flow.pages);
    if (!info) return;
    const prev = c.answers.get(t);
    c.answers.set(t, { total: info.total, runs: prev ? unionRuns([prev.runs, info.runs]) : info.runs });
    for (const u of s.flow.pending) {
      const a = c.answers.get(u);
      if (!a || runPages(a.runs) < a.total) return;
    }
    this.finish(s);
  }

  /** The checkpoint waited long enough: repair what it was told. */
  due(s: S, now: number): void {
    if (s.check && now >= s.check.deadline) this.finish(s);
  }

  /** Repair what the targets said they lack of the checkpoint's pages, ahead of the chunks still queued. */
  finish(s: S): void {
    const c = s.check;
    s.check = null;
    if (!c || s.flow.phase !== 'sending') return;
    const plan = s.flow.repair([...c.answers.values()].map((a) => a.runs));
    if (plan.pages === 0) return;
    this.pages += plan.pages;
    this.repaired(plan.pages, plan.parityPages);
    this.log.debug('checkpoint repair', { object: s.flow.object, check: c.k, answers: c.answers.size, pages: plan.pages, parity: plan.parityPages });
    this.queueJob(s, plan.runs, plan.parityPages ? plan.parity : undefined, true, false);
  }
}
