// Parity repair: the erasure code (native/fec.cc) rebuilds any e lost pages
// of a block from any e parity pages; the repair planner sends, per block,
// the worst target's count of parity pages where targets lost different
// pages, and plain pages elsewhere.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { native } from '../../src/native';
import { FEC_BLOCK, FEC_MAX_PARITY, planRepair, tailMargin } from '../../src/master/repair';
import { clipRuns, unionRuns } from '../../src/wire/runs';

const RUNS = Number(process.env.PROP_RUNS ?? 300);

// every kernel this CPU can run, each against the scalar one: a machine with AVX2 would otherwise never
// run SSSE3's or the scalar tail
const KERNELS = native.fecKernels();

for (const kernel of KERNELS) test(`any e lost pages of a block come back from any e parity pages (${kernel})`, () => {
  assert.ok(native.fecUseKernel(kernel));
  after(() => native.fecUseKernel(KERNELS[0]));
  fc.assert(fc.property(
    fc.integer({ min: 1, max: FEC_BLOCK }), fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(),
    (kb, len, lossSeed, paritySeed) => {
      const pages = Array.from({ length: kb }, (_, i) => randomBytes(i === kb - 1 ? 1 + (len * 7 + i) % len : len));
      // a random lost set (at least one) and as many random distinct parity indices
      const lost = pages.map((_, i) => i).filter((i) => ((lossSeed >> (i % 30)) ^ i * 2654435761) % 3 === 0);
      if (lost.length === 0) lost.push(lossSeed % kb);
      const js = new Set<number>();
      for (let k = 0; js.size < lost.length; k++) js.add((paritySeed + k * 37 + k * k) % FEC_MAX_PARITY);
      const parity = [...js].map((j): [number, Buffer] => [j, native.fecEncode(pages, j, len)]);
      const held = pages.map((p, i) => (lost.includes(i) ? null : p));
      const got = native.fecRecover(held, parity, len);
      assert.equal(got.length, lost.length);
      lost.forEach((i, c) => {
        const want = Buffer.alloc(len);
        pages[i].copy(want);
        assert.deepEqual(got[c], want, `page ${i} of ${kb}`);
      });
    }), { numRuns: RUNS });
  native.fecUseKernel(KERNELS[0]);
});

test('every kernel gives the scalar kernel\'s parity, at every length (SIMD bodies and tails)', () => {
  assert.deepEqual(KERNELS.slice(-1), ['scalar']);
  assert.equal(native.fecUseKernel('no-such'), false);
  const pages = Array.from({ length: 20 }, () => randomBytes(200));
  try {
    for (let len = 1; len <= 200; len++) {
      native.fecUseKernel('scalar');
      const cut = pages.map((p) => p.subarray(0, len));
      const want = [0, 1, 77].map((j) => native.fecEncode(cut, j, len));
      for (const k of KERNELS) {
        native.fecUseKernel(k);
        [0, 1, 77].forEach((j, c) => assert.deepEqual(native.fecEncode(cut, j, len), want[c], `${k}, length ${len}, parity ${j}`));
      }
    }
  } finally {
    native.fecUseKernel(KERNELS[0]);
  }
});

test('the code is systematic and linear: parity of zeros is zero, a lone page scales', () => {
  const zeros = Array.from({ length: 8 }, () => Buffer.alloc(64));
  assert.deepEqual(native.fecEncode(zeros, 5, 64), Buffer.alloc(64));
  const a = randomBytes(64), b = randomBytes(64);
  const pa = native.fecEncode([a, Buffer.alloc(64)], 3, 64);
  const pb = native.fecEncode([Buffer.alloc(64), b], 3, 64);
  const pab = native.fecEncode([a, b], 3, 64);
  assert.deepEqual(pab, Buffer.from(pa.map((x, i) => x ^ pb[i])));
  assert.throws(() => native.fecRecover([null, a], [], 64), /fewer parity/);
  assert.throws(() => native.fecEncode([a], FEC_MAX_PARITY, 64), /out of range/);
});

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
