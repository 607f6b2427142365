// The erasure code (native/fec.cc) through the addon's probes: any e lost
// pages of a block come back from any e parity pages, with every kernel this
// CPU can run.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { native } from '../../src/native';
import { FEC_BLOCK, FEC_MAX_PARITY } from '../../src/master/repair';

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
