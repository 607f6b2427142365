// The repair planner (master/repair.ts): per block, the worst target's count
// of parity pages where targets lost different pages, plain pages elsewhere,
// and the tail's margin.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FEC_BLOCK, FEC_MAX_PARITY, planRepair, tailMargin } from '../../src/master/repair';
import { clipRuns, unionRuns } from '../../src/wire/runs';

const RUNS = Number(process.env.PROP_RUNS ?? 300);

const runsArb = (pages: number): fc.Arbitrary<Uint32Array> =>
  fc.uniqueArray(fc.nat(pages - 1), { maxLength: 80 }).map((ps) => unionRuns(ps.map((p) => Uint32Array.of(p, 1))));

function missingIn(runs: Uint32Array, block: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < runs.length; i += 2)
    for (let p = runs[i]; p < runs[i] + runs[i + 1]; p++) if (Math.floor(p / FEC_BLOCK) === block) out.push(p);
  return out;
}

test('every target can complete every block from one repair round, never more than the union', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 400 }).chain((pages) => fc.tuple(fc.constant(pages), fc.array(runsArb(pages), { minLength: 1, maxLength: 12 }))),
    ([pages, answers]) => {
      const next = new Map<number, number>();
      const plan = planRepair(answers, pages, next);
      const union = unionRuns(answers);
      let unionPages = 0;
      for (let i = 1; i < union.length; i += 2) unionPages += union[i];
      assert.ok(plan.pages <= unionPages);
      const parityOf = new Map<number, number>();
      for (let i = 0; i + 2 < plan.parity.length; i += 3) {
        assert.ok(!parityOf.has(plan.parity[i]), 'one parity run per block');
        parityOf.set(plan.parity[i], plan.parity[i + 2]);
        assert.ok(plan.parity[i + 1] + plan.parity[i + 2] <= FEC_MAX_PARITY);
      }
      for (const a of answers) {
        for (let b = 0; b * FEC_BLOCK < pages; b++) {
          const lost = missingIn(a, b);
          const plain = new Set(missingIn(plan.runs, b));
          const still = lost.filter((p) => !plain.has(p)).length;
          assert.ok(still <= (parityOf.get(b) ?? 0), `block ${b}: ${still} lost, ${parityOf.get(b) ?? 0} parity`);
          if (parityOf.has(b)) assert.equal(plain.size, 0, 'a block is repaired one way');
        }
      }
      // a second round never reuses a parity index of a block
      const again = planRepair(answers, pages, next);
      for (let i = 0; i + 2 < again.parity.length; i += 3) {
        const b = again.parity[i];
        if (parityOf.has(b)) assert.ok(again.parity[i + 1] >= plan.parity[[...parityOf.keys()].indexOf(b) * 3 + 1] + parityOf.get(b)!);
      }
    }), { numRuns: RUNS });
});

test('ten targets that each lost a different page of a block: one parity page, not ten', () => {
  const answers = Array.from({ length: 10 }, (_, t) => Uint32Array.of(t * 5, 1));
  const plan = planRepair(answers, 1000, new Map());
  assert.deepEqual([...plan.parity], [0, 0, 1]);
  assert.equal(plan.runs.length, 0);
  assert.equal(plan.pages, 1);
  // the same page lost everywhere: a plain re-send
  const same = planRepair(Array.from({ length: 10 }, () => Uint32Array.of(7, 1)), 1000, new Map());
  assert.deepEqual([...same.runs], [7, 1]);
  assert.equal(same.parityPages, 0);
  // one target: plain; --no-parity: plain
  assert.equal(planRepair([Uint32Array.of(1, 3)], 100, new Map()).parityPages, 0);
  assert.equal(planRepair(answers, 1000, new Map(), false).pages, 10);
});

test('at the tail: parity for every block, with a margin of one (one target) or two (several), more for heavy loss, within the budget', () => {
  assert.equal(tailMargin(1, 3), 1);
  assert.equal(tailMargin(10, 3), 2);
  assert.equal(tailMargin(10, 17), 4);
  // one target, two blocks: 1 + 1 and 9 + 2 parity pages, none plain
  const one = planRepair([Uint32Array.of(1, 1, FEC_BLOCK + 2, 9)], 2 * FEC_BLOCK, new Map(), true, 100);
  assert.deepEqual([...one.parity], [0, 0, 2, 1, 0, 11]);
  assert.equal(one.runs.length, 0);
  assert.equal(one.pages, 13);
  // the margin would cost 3 pages: a budget of 2 is not enough, the plan stays exact (plain, one target)
  const exact = planRepair([Uint32Array.of(1, 1, FEC_BLOCK + 2, 9)], 2 * FEC_BLOCK, new Map(), true, 2);
  assert.deepEqual([...exact.runs], [1, 1, FEC_BLOCK + 2, 9]);
  assert.equal(exact.parityPages, 0);
  // the same page lost everywhere: parity too (1 + 2)
  const same = planRepair(Array.from({ length: 10 }, () => Uint32Array.of(7, 1)), 1000, new Map(), true, 100);
  assert.deepEqual([...same.parity], [0, 0, 3]);
  // a one-page object has no parity: plain; --no-parity: plain
  assert.deepEqual([...planRepair([Uint32Array.of(0, 1)], 1, new Map(), true, 100).runs], [0, 1]);
  assert.equal(planRepair([Uint32Array.of(1, 3)], 100, new Map(), false, 100).parityPages, 0);
  // the parity index space of a block is finite: past it, plain
  const next = new Map([[0, FEC_MAX_PARITY - 2]]);
  assert.deepEqual([...planRepair([Uint32Array.of(1, 3)], 100, next, true, 100).runs], [1, 3]);
});

test('clipRuns keeps what lies in [from, to)', () => {
  fc.assert(fc.property(runsArb(500), fc.nat(500), fc.nat(500), (runs, a, b) => {
    const [from, to] = a <= b ? [a, b] : [b, a];
    const got = clipRuns(runs, from, to);
    const want: number[] = [];
    for (let i = 0; i + 1 < runs.length; i += 2)
      for (let p = runs[i]; p < runs[i] + runs[i + 1]; p++) if (p >= from && p < to) want.push(p);
    const have: number[] = [];
    for (let i = 0; i + 1 < got.length; i += 2) for (let p = got[i]; p < got[i] + got[i + 1]; p++) have.push(p);
    assert.deepEqual(have, want);
  }), { numRuns: RUNS });
});
