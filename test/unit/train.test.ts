// The rate's probe train (wire/train.ts): the estimate from arrival times
// as a token-bucket shaper and a shaper's timer leave them, the catcher's
// collection of a train, and what the rate control (master/rate.ts) makes
// of the estimate on the simulated LAN (ratesim.ts); and the window's bound
// on first passes, which the rate found sets (master/sender.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateControl, START, trainStart } from '../../src/master/rate';
import { TRAIN_LEN, TrainMeter, lowEstimate, trainRate } from '../../src/wire/train';
import { BITS, STEP, simulate } from './ratesim';
import { firstPassBytes } from '../../src/master/sender';

const mbit = (x: number): string => `${(x / 1e6).toFixed(1)} Mbit/s`;

/**
 * Arrival times of a train through a tbf shaper at rate bps with a bucket of
 * burst bytes and a queue of queueMs (what does not fit is dropped), the
 * train sent at 10 Gbit/s; release: the shaper's timer lets datagrams out
 * this many at a time.
 */
function shaped(bps: number, o: { burst?: number; queueMs?: number; release?: number; drop?: (i: number) => boolean } = {}): Array<{ index: number; atNs: number }> {
  const bytes = BITS / 8, perNs = (BITS * 1e9) / bps, lineNs = (BITS * 1e9) / 10e9;
  const head = Math.floor((o.burst ?? 65536) / bytes);
  const queue = Math.floor((bps * (o.queueMs ?? 50)) / 1000 / BITS);
  const out: Array<{ index: number; atNs: number }> = [];
  for (let i = 0; i < TRAIN_LEN; i++) {
    if (i >= head + queue || o.drop?.(i)) continue;
    const ideal = i < head ? i * lineNs : head * lineNs + (i - head + 1) * perNs;
    const r = o.release ?? 1;
    out.push({ index: i, atNs: i < head ? ideal : head * lineNs + Math.ceil((i - head + 1) / r) * r * perNs });
  }
  return out;
}

test('the train: the rate behind a token bucket, whatever it let through at line rate first', () => {
  for (const bps of [5e6, 20e6, 200e6, 1e9]) {
    const est = trainRate(shaped(bps), BITS)!;
    assert.ok(Math.abs(est / bps - 1) < 0.05, `${mbit(bps)}: ${mbit(est)}`);
  }
});

test('the train: a shaper whose timer lets datagrams out four at a time, some lost on the way, the tail dropped at a full queue', () => {
  const est = trainRate(shaped(1e9, { release: 4 }), BITS)!;
  assert.ok(Math.abs(est / 1e9 - 1) < 0.1, mbit(est));
  const lossy = trainRate(shaped(200e6, { drop: (i) => i % 17 === 5 }), BITS)!;
  assert.ok(Math.abs(lossy / 200e6 - 1) < 0.05, mbit(lossy));
  // at 5 Mbit/s a 10 ms queue holds four datagrams: most of the train is dropped, the last third is the head's
  // tail and what the queue held, never above the head's line rate
  const cut = trainRate(shaped(5e6, { queueMs: 10 }), BITS)!;
  assert.ok(cut >= 5e6 * 0.95, mbit(cut));
});

test('the train: too few arrivals say nothing; all at once is very fast, not infinite; arrival order does not matter', () => {
  assert.equal(trainRate(shaped(1e9).slice(0, 10), BITS), null);
  const instant = trainRate(Array.from({ length: 64 }, (_, index) => ({ index, atNs: 1000 })), BITS)!;
  assert.ok(Number.isFinite(instant) && instant > 2e9, mbit(instant)); // above the default cap (1 Gbit/s)
  const a = shaped(20e6);
  assert.equal(trainRate([...a].reverse(), BITS), trainRate(a, BITS));
});

test('the group: the lowest estimate, past a fiftieth of the targets with many; nonsense left out', () => {
  assert.equal(lowEstimate([]), null);
  assert.equal(lowEstimate([0, NaN, -5, Infinity]), null);
  assert.equal(lowEstimate([300e6, 200e6, 1e9]), 200e6);
  const many = Array.from({ length: 100 }, (_, i) => (i < 2 ? 20e6 : 200e6 + i));
  assert.equal(lowEstimate(many), 200e6 + 2); // two on slow ports are set aside later, they do not set the start
});

test('the start: one target or a few (a tenth) of three or more read under half of the median are slow ports, left out of the low end', () => {
  const m = (xs: number[]): Map<number, number> => new Map(xs.map((b, i) => [i, b]));
  assert.deepEqual(trainStart(m([100e6, 100e6, 100e6, 8e6])), { low: 100e6, slow: [3] });
  assert.deepEqual(trainStart(m([8e6, 100e6])), { low: 8e6, slow: [] });             // of two, either may be the misread one
  assert.deepEqual(trainStart(m([8e6, 100e6, 100e6])), { low: 100e6, slow: [0] });
  assert.deepEqual(trainStart(m([100e6, 100e6, 400e6])), { low: 100e6, slow: [] });   // one read high moves no median
  assert.deepEqual(trainStart(m([60e6, 100e6, 100e6, 100e6])), { low: 60e6, slow: [] }); // not under half
  assert.deepEqual(trainStart(m([8e6, 9e6, 100e6, 100e6])), { low: 8e6, slow: [] });       // two of four: the path
  assert.deepEqual(trainStart(m([8e6])), { low: 8e6, slow: [] });
  assert.deepEqual(trainStart(m([0, NaN, 100e6, 100e6])), { low: 100e6, slow: [] });      // no reading is no slowness
  assert.deepEqual(trainStart(m([])), { low: null, slow: [] });
  const many = Array.from({ length: 100 }, (_, i) => (i < 3 ? 20e6 : 200e6 + i));
  const t = trainStart(m(many));
  assert.deepEqual(t.slow, [0, 1, 2]);
  assert.equal(t.low, 200e6 + 4); // past a fiftieth of the 97 others
});

test('the catcher: a train ends at its last datagram, or once none came for a while; repeats and strays ignored', async () => {
  const got: Array<[number | null, number]> = [];
  const m = new TrainMeter(BITS, (bps, n) => got.push([bps, n]));
  for (const p of shaped(200e6)) { m.add(p.index, p.atNs); m.add(p.index, 0); }
  m.add(TRAIN_LEN, 0);
  m.add(-1, 0);
  assert.equal(got.length, 1);
  assert.equal(got[0][1], TRAIN_LEN);
  assert.ok(Math.abs(got[0][0]! / 200e6 - 1) < 0.05);
  const tail: Array<[number | null, number]> = [];
  const t = new TrainMeter(BITS, (bps, n) => tail.push([bps, n]));
  for (const p of shaped(20e6, { queueMs: 10 })) t.add(p.index, p.atNs); // the tail was dropped: no last datagram
  assert.equal(tail.length, 0);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(tail.length, 1);
  assert.ok(tail[0][1] < TRAIN_LEN && tail[0][0]! > 0);
  const stopped: unknown[] = [];
  const s = new TrainMeter(BITS, () => stopped.push(1));
  s.add(0, 0);
  s.stop();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(stopped.length, 0);
});

test('the rate: from half the probe, only while the startup has not found a bottleneck', () => {
  const opts = { start: START, max: 1e9, min: 1e6, roundMs: 50, reportMs: 50, earlyMs: 25, datagramBits: BITS };
  const rc = new RateControl(opts);
  assert.equal(rc.probed(1.2e9, 0), 6e8);
  assert.equal(rc.probed(800e6, 10), null); // half of it below where it is, itself above: nothing
  assert.equal(new RateControl(opts).probed(4e6, 0), 4e6); // a start above the path comes down to it
  assert.equal(new RateControl({ ...opts, found: true, start: 100e6 }).probed(1e9, 0), null);
  assert.equal(new RateControl(opts).probed(3e9, 0), 1e9); // capped
});

for (const [c, probe] of [[1e9, 1.2e9], [200e6, 200e6], [5e6, 5e6]] as const) {
  test(`a ${mbit(c)} bottleneck, the probe reading ${mbit(probe)}: at 0.8 C sooner than from ${mbit(START)}, no higher peak, little loss`, () => {
    const at = (s: { rates: number[] }): number => s.rates.findIndex((r) => r >= 0.8 * c) * STEP;
    const plain = simulate({ capacity: c, ports: [10e9, 10e9], seconds: 3 });
    const probed = simulate({ capacity: c, ports: [10e9, 10e9], seconds: 3, probe: { bps: probe, atMs: 20 } });
    assert.ok(at(probed) >= 0 && at(probed) <= at(plain), `0.8 C after ${at(probed)} ms (${at(plain)} without)`);
    if (c >= 200e6) assert.ok(at(probed) < 0.6 * at(plain), `0.8 C after ${at(probed)} ms (${at(plain)} without)`);
    assert.ok(probed.dropped / probed.sent < 0.05, `${((100 * probed.dropped) / probed.sent).toFixed(1)}% dropped`);
    // the startup's one step past the bottleneck, as from START (a doubling), no more
    assert.ok(Math.max(...probed.rates) <= Math.max(...plain.rates) * 1.01, `peak ${mbit(Math.max(...probed.rates))}, ${mbit(Math.max(...plain.rates))} without`);
  });
}

test('the window: first passes queued ahead of a repair are line time at the rate (0.67 s), 256 KiB to 16 MiB', () => {
  assert.equal(firstPassBytes(200e6), 16 << 20);
  assert.equal(firstPassBytes(1e9), 16 << 20);
  // at 5 Mbit/s 16 MiB was 27 s of first passes ahead of every repair
  assert.ok(Math.abs(firstPassBytes(5e6) - (16 << 20) / 40) < 1, `${firstPassBytes(5e6)}`);
  assert.equal(firstPassBytes(1e6), 256 << 10);
});
