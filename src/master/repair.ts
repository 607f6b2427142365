// What a repair round sends. Each target reports the pages it lacks; the
// plain answer is their union. Blocks of FEC_BLOCK pages where the targets
// lack different pages get parity pages instead (native/fec.h): a target
// missing e pages of a block rebuilds them from any e parity pages, so the
// block costs the worst target's count, not the union. Blocks where the
// union is no bigger than the worst target (one target, or all lost the
// same pages) are re-sent plainly. Pure: tested without a network.
//
// At the tail of a push (nothing left to open: the line goes idle while the
// last files' repair rounds go back and forth), a repair page lost on its way
// costs another round, and a round costs the slowest target's answer time
// (tens of milliseconds when the targets' CPU is busy, as at 10 targets on
// this machine). There the plan may add a margin: every block repaired by
// parity, with a page or two more than the worst target lacks, so that a
// target rebuilds its block even if it loses one or two of them; but only
// when those extra pages take less line time than the round just taken
// (the caller's budget, in pages): on a slow link with quick targets another
// round is the cheaper risk.
import { native } from '../native';
import { runPages, unionRuns } from '../wire/runs';

export const FEC_BLOCK: number = native.FEC_BLOCK;
export const FEC_MAX_PARITY: number = native.FEC_MAX_PARITY;
export const FEC_MAX_BLOCKS = 1 << 24;

export interface RepairPlan {
  /** plain pages: (start, length) pairs */
  runs: Uint32Array;
  /** parity: (block, first parity index, count) triples */
  parity: Uint32Array;
  pages: number;
  parityPages: number;
}

/** The runs cut at block boundaries: each piece's block, first page and length, in order. */
function perBlock(runs: Uint32Array, each: (block: number, start: number, n: number) => void): void {
  for (let i = 0; i + 1 < runs.length; i += 2) {
    let p = runs[i];
    const end = runs[i] + runs[i + 1];
    while (p < end) {
      const b = Math.floor(p / FEC_BLOCK);
      const stop = Math.min(end, (b + 1) * FEC_BLOCK);
      each(b, p, stop - p);
      p = stop;
    }
  }
}

/**
 * Parity pages beyond the worst target's count in a block, at the tail: one
 * for a single target, two for several, one more per 8 pages lacking
 * (heavier loss). At 1% loss, 10 targets and a last chunk of 32 blocks,
 * some target lacks a page after an exact round more often than not (the
 * logged runs behind commit 097277b had two to four rounds); with
 * two more pages a target must lose three of a block's few repair pages
 * (about 1e-5 per target and block).
 */
export function tailMargin(targets: number, worst: number): number {
  return (targets > 1 ? 2 : 1) + Math.floor(worst / 8);
}

/**
 * answers: each target's missing runs; pages: the object's page count;
 * nextParity: per block, the first parity index not sent yet (updated);
 * marginBudget: at the tail, how many extra pages a margin against the loss
 * of the repair itself may cost (above); 0: none.
 */
export function planRepair(answers: Uint32Array[], pages: number, nextParity: Map<number, number>,
                           useParity = true, marginBudget = 0): RepairPlan {
  const union = unionRuns(answers);
  const unionPages = runPages(union);
  const plain: RepairPlan = { runs: union, parity: new Uint32Array(0), pages: unionPages, parityPages: 0 };
  if (!useParity || unionPages === 0) return plain;

  const worst = new Map<number, number>();
  for (const a of answers) {
    const mine = new Map<number, number>();
    perBlock(a, (b, _, n) => mine.set(b, (mine.get(b) ?? 0) + n));
    for (const [b, n] of mine) if (n > (worst.get(b) ?? 0)) worst.set(b, n);
  }
  const inUnion = new Map<number, number>();
  perBlock(union, (b, _, n) => inUnion.set(b, (inUnion.get(b) ?? 0) + n));
  const parityRoom = (b: number, m: number): boolean =>
    Math.min(FEC_BLOCK, pages - b * FEC_BLOCK) >= 2 && b < FEC_MAX_BLOCKS && (nextParity.get(b) ?? 0) + m <= FEC_MAX_PARITY;
  // the margin, all or nothing: every block it can cover, if the budget allows
  let tail = false;
  if (marginBudget > 0) {
    let extra = 0;
    for (const b of inUnion.keys()) {
      const w = worst.get(b) ?? 0;
      const x = tailMargin(answers.length, w);
      if (parityRoom(b, w + x)) extra += x;
    }
    tail = extra <= marginBudget;
  }
  if (answers.length < 2 && !tail) return plain;

  const parity: number[] = [];
  const byParity = new Set<number>();
  let parityPages = 0;
  for (const [b, u] of inUnion) {
    const w = worst.get(b) ?? 0;
    const m = w + (tail ? tailMargin(answers.length, w) : 0);
    const next = nextParity.get(b) ?? 0;
    if ((!tail && m >= u) || !parityRoom(b, m)) continue;
    parity.push(b, next, m);
    nextParity.set(b, next + m);
    byParity.add(b);
    parityPages += m;
  }
  if (parityPages === 0) return plain;

  // the union without the blocks repaired by parity
  const runs: number[] = [];
  let plainPages = 0;
  perBlock(union, (b, start, n) => {
    if (byParity.has(b)) return;
    const k = runs.length;
    if (k && runs[k - 2] + runs[k - 1] === start) runs[k - 1] += n;
    else runs.push(start, n);
    plainPages += n;
  });
  return { runs: Uint32Array.from(runs), parity: Uint32Array.from(parity), pages: plainPages + parityPages, parityPages };
}
