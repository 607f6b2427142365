// The rate control (master/rate.ts) against a simulated LAN: the sender's
// uplink is a bottleneck of C bits/s with a 50 ms drop-tail queue (a tbf
// shaper, as the benchmarks use), each target has its own port (its rate and
// queue) and random loss; every target reports its counts and its clock
// every roundMs from a random phase, as the catchers do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RateControl, START } from '../../src/master/rate';

import { BITS, STEP, Sim, simulate } from './ratesim';

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const tail = (s: Sim, seconds: number): number[] => s.rates.slice(-(seconds * 1000) / STEP);
const mbit = (x: number): string => `${(x / 1e6).toFixed(1)} Mbit/s`;

for (const c of [5e6, 20e6, 200e6, 1e9]) {
  test(`a ${mbit(c)} bottleneck found from ${mbit(START)} in a few rounds, held near it, little loss`, () => {
    const s = simulate({ capacity: c, ports: [10e9], seconds: 8 });
    const reached = s.rates.findIndex((r) => r >= 0.8 * c) * STEP;
    assert.ok(reached >= 0 && reached < 1500, `0.8 C after ${reached} ms`);
    const m = mean(tail(s, 5));
    assert.ok(m > 0.88 * c && m < 1.12 * c, `held at ${mbit(m)}`);
    assert.ok(s.dropped / s.sent < 0.05, `${((100 * s.dropped) / s.sent).toFixed(1)}% dropped`);
  });
}

test('a deep queue in front of the bottleneck (it delays before it drops): startup ends at the first step past it', () => {
  for (const queueMs of [150, 300]) {
    const s = simulate({ capacity: 200e6, ports: [10e9], seconds: 3, queueMs });
    // judged on loss alone, the doubling went on to 636 and 1,000 Mbit/s, 5.3% and 12.1% dropped
    assert.ok(Math.max(...s.rates) < 1.7 * 200e6, `queue ${queueMs} ms: peak ${mbit(Math.max(...s.rates))}`);
    assert.ok(s.dropped / s.sent < 0.02, `queue ${queueMs} ms: ${((100 * s.dropped) / s.sent).toFixed(1)}% dropped`);
  }
});

test('the rate does not fall with the number of targets under independent random loss (1% each)', () => {
  const settled = [1, 10, 100].map((n) => mean(tail(simulate({ capacity: 20e6, ports: Array(n).fill(1e9), loss: Array(n).fill(0.01), seconds: 10, roundMs: Math.max(50, 5 * n) }), 4)));
  for (const r of settled) assert.ok(r > 0.85 * 20e6 && r < 1.15 * 20e6, `settled ${settled.map(mbit).join(', ')}`);
});

test('a start far above the path (a cached rate from a faster network) comes down within a few rounds', () => {
  const s = simulate({ capacity: 5e6, ports: [1e9, 1e9, 1e9], seconds: 4, start: 200e6 });
  const down = s.rates.findIndex((r) => r < 8e6) * STEP;
  assert.ok(down >= 0 && down <= 300, `below 8 Mbit/s after ${down} ms`);
  assert.ok(mean(tail(s, 2)) > 0.85 * 5e6);
});

test('a start far above the path where an earlier push found its bottleneck (the path slowed) comes down as fast', () => {
  const s = simulate({ capacity: 5e6, ports: [1e9, 1e9, 1e9], seconds: 4, start: 200e6, found: true });
  const down = s.rates.findIndex((r) => r < 8e6) * STEP;
  assert.ok(down >= 0 && down <= 300, `below 8 Mbit/s after ${down} ms`);
  assert.ok(mean(tail(s, 2)) > 0.85 * 5e6);
});

test('from where the last push found the bottleneck: grown 1.25x a step, not doubled past it; a path grown since is found', () => {
  const s = simulate({ capacity: 200e6, ports: Array(10).fill(1e9), loss: Array(10).fill(0.01), seconds: 5, start: 200e6, found: true, jitterMs: 10 });
  assert.ok(Math.max(...s.rates) < 1.6 * 200e6, `peak ${mbit(Math.max(...s.rates))}`);
  const wider = simulate({ capacity: 800e6, ports: [10e9, 10e9], seconds: 6, start: 100e6, found: true });
  const m = mean(tail(wider, 2));
  assert.ok(m > 0.85 * 800e6 && m < 1.15 * 800e6, `held at ${mbit(m)}`);
});

test('counts a busy catcher reads late (up to 10 ms) do not lift the rate above the path', () => {
  for (const seed of [1, 2, 3]) {
    const s = simulate({ capacity: 200e6, ports: Array(10).fill(1e9), loss: Array(10).fill(0.01), seconds: 10, start: 200e6, found: true, jitterMs: 10, seed });
    const m = mean(tail(s, 5));
    // one 50 ms report as its sample: held at 207-209 Mbit/s, 4.3-4.9% dropped
    assert.ok(m < 1.03 * 200e6 && m > 0.9 * 200e6, `seed ${seed}: held at ${mbit(m)}`);
    assert.ok(s.dropped / s.sent / 10 < 0.035, `seed ${seed}: ${((100 * s.dropped) / s.sent / 10).toFixed(1)}% dropped`);
  }
});

test('a tree of small files (short last pages: datagrams 0.6-0.8 of a full one on the wire): the rate holds to the path in bytes', () => {
  // the sender paces bytes, the targets count datagrams: taken at a full datagram's size, the counts of
  // 0.6-0.8 datagrams read the path 1.25-1.66x wide, and the sender held 1.25-1.66x the path, 20-40% dropped
  for (const [c, n, roundMs] of [[200e6, 10, 50], [20e6, 50, 250], [5e6, 200, 1000]]) {
    for (const f of [0.6, 0.8]) {
      const s = simulate({ capacity: c, ports: Array(n).fill(10e9), loss: Array(n).fill(0.01), seconds: 12, roundMs, wireBits: f * BITS });
      const m = mean(tail(s, 5));
      assert.ok(m > 0.9 * c && m < 1.04 * c, `${mbit(c)} x ${n}, datagrams ${f}: held at ${mbit(m)}`);
      assert.ok(s.dropped / s.sent / n < 0.04, `${mbit(c)} x ${n}, datagrams ${f}: ${((100 * s.dropped) / s.sent / n).toFixed(1)}% dropped`);
    }
  }
});

test('files alternating between small and big (datagrams 0.3-0.5 then 1 of a full one, every 3 s): the rate holds to the path', () => {
  // counts taken at the mean size of the sender's last two seconds: at each change the mix of the two
  // seconds before read the path up to 2.7x wide or narrow, peaks at 2-2.7x the path, 6-15% dropped
  for (const [c, n, roundMs] of [[200e6, 10, 50], [20e6, 50, 250], [5e6, 200, 1000]]) {
    for (const small of [0.3, 0.5]) {
      const s = simulate({ capacity: c, ports: Array(n).fill(10e9), loss: Array(n).fill(0.01), seconds: 15, roundMs,
        wireBits: (ms) => (Math.floor(ms / 3000) % 2 ? small : 1) * BITS });
      const after = s.rates.slice(3000 / STEP);
      assert.ok(Math.abs(mean(after) / c - 1) < 0.05, `${n} x ${mbit(c)}, ${small}: held at ${mbit(mean(after))}`);
      assert.ok(Math.max(...after) < 1.4 * c, `${n} x ${mbit(c)}, ${small}: peak ${mbit(Math.max(...after))}`);
      assert.ok(s.dropped / s.sent / n < 0.03, `${n} x ${mbit(c)}, ${small}: ${((100 * s.dropped) / s.sent / n).toFixed(1)}% dropped`);
    }
  }
});

test('one target on a slow port among ten is set aside; the group holds the rate of the others', () => {
  const ports = [...Array(9).fill(200e6), 20e6];
  const s = simulate({ capacity: 1e9, ports, seconds: 8 });
  assert.deepEqual(s.slow, [9]);
  assert.ok(mean(tail(s, 3)) > 0.85 * 200e6, `held at ${mbit(mean(tail(s, 3)))}`);
});

test('a slow port the probe train read (its low end: one of four targets): past it, that one target behind does not end the startup; it is set aside', () => {
  // the startup's one-report end past the train's reading is for a bottleneck most targets share: taken for
  // one here, the group stayed at the slow port's 8 Mbit/s and the fast targets finished 3x later (slow-target.sh)
  for (const seed of [1, 2, 3]) {
    const s = simulate({ capacity: 100e6, ports: [10e9, 10e9, 10e9, 8e6], seconds: 8, seed, probe: { bps: 8e6, atMs: 60 } });
    assert.deepEqual(s.slow, [3], `seed ${seed}`);
    assert.ok(mean(tail(s, 3)) > 0.85 * 100e6, `seed ${seed}: held at ${mbit(mean(tail(s, 3)))}`);
  }
});

test('the probe train read one target far below the others: it neither starts nor holds the rate; it is set aside; one it misread governs again', () => {
  // taken from the low end of the train, its lag at the first steps (a queue at its port, no loss yet) ended the startup
  // at its rate, and in the cruise it lost only in the probes: the group stayed at its 8 Mbit/s (slow-target.sh, 1 in 8)
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
    for (const atMs of [150, 200, 300]) {
      const s = simulate({ capacity: 100e6, ports: [10e9, 10e9, 10e9, 8e6], seconds: 8, seed, probe: { bps: [100e6, 100e6, 100e6, 8e6], atMs } });
      assert.deepEqual(s.slow, [3], `seed ${seed}, train in at ${atMs} ms`);
      assert.ok(mean(tail(s, 3)) > 0.9 * 100e6, `seed ${seed}, train in at ${atMs} ms: held at ${mbit(mean(tail(s, 3)))}`);
    }
  }
  // a busy catcher's reading: its port takes what the others' do
  for (const seed of [1, 2, 3]) {
    const s = simulate({ capacity: 100e6, ports: [10e9, 10e9, 10e9, 10e9], seconds: 6, seed, probe: { bps: [100e6, 100e6, 100e6, 8e6], atMs: 150 } });
    assert.deepEqual(s.slow, [], `seed ${seed}`);
    assert.ok(mean(tail(s, 3)) > 0.85 * 100e6, `seed ${seed}: held at ${mbit(mean(tail(s, 3)))}`);
  }
});

test('loss the sender causes is shared: it sets no one aside (50 targets, start 10x the path)', () => {
  const s = simulate({ capacity: 20e6, ports: Array(50).fill(1e9), loss: Array(50).fill(0.005), seconds: 10, start: 200e6, roundMs: 250 });
  assert.deepEqual(s.slow, []);
  assert.ok(mean(tail(s, 4)) > 0.85 * 20e6, `held at ${mbit(mean(tail(s, 4)))}`);
});

test('two hundred targets reporting once a second: the path is found, no one set aside', () => {
  const s = simulate({ capacity: 5e6, ports: Array(200).fill(1e9), loss: Array(200).fill(0.005), seconds: 12, roundMs: 1000 });
  assert.deepEqual(s.slow, []);
  const m = mean(tail(s, 5));
  assert.ok(m > 0.85 * 5e6 && m < 1.15 * 5e6, `held at ${mbit(m)}`);
});

test('half the catchers busy as the push starts (they lose half of what reaches them): the rate comes back to what the probe train read', () => {
  // hundreds of catchers starting on loaded machines drop what their sockets cannot hold: loss most targets
  // share, read as the sender's overshoot; the cut went to a quarter of the path or less and stayed there
  for (const [c, n, roundMs] of [[5e6, 200, 1000], [20e6, 50, 250], [200e6, 10, 50]]) {
    const s = simulate({ capacity: c, ports: Array(n).fill(2 * c), loss: Array(n).fill(0.005), seconds: 12, roundMs, probe: { bps: c, atMs: 200 },
      behave: (t, ms) => (t < n / 2 && ms < 1500 ? { loss: 0.5 } : {}) });
    const m = mean(tail(s, 8));
    assert.ok(m > 0.85 * c && m < 1.15 * c, `${n} targets at ${mbit(c)}: held at ${mbit(m)}`);
    assert.ok(s.dropped < 0.03 * s.sent * n, `${n} targets: ${((100 * s.dropped) / (s.sent * n)).toFixed(1)}% dropped`);
  }
});

test('a burst of loss most targets share (300 ms, 30-60% lost): back at the path within a second, no overshoot past a probe', () => {
  // cut for shared loss, the estimate crept back by the probe cycle (0.15-0.77 of the path over the next 6 s),
  // or two cycles' growth read as a wider path and doubled to 2-4x the path
  for (const [c, n, roundMs] of [[200e6, 10, 50], [20e6, 50, 250], [1e9, 5, 50]]) {
    for (const loss of [0.3, 0.6]) {
      const s = simulate({ capacity: c, ports: Array(n).fill(10e9), loss: Array(n).fill(0.01), seconds: 10, roundMs,
        behave: (t, ms) => (ms >= 4000 && ms < 4300 ? { loss } : {}) });
      const after = s.rates.slice(5300 / STEP);
      assert.ok(mean(after) > 0.9 * c, `${n} x ${mbit(c)}, ${loss * 100}% lost: ${mbit(mean(after))} from 1 s after the burst`);
      assert.ok(Math.max(...s.rates.slice(4000 / STEP)) < 1.3 * c, `${n} x ${mbit(c)}, ${loss * 100}% lost: peak ${mbit(Math.max(...s.rates.slice(4000 / STEP)))}`);
    }
  }
});

test('a path that narrows for good (another sender takes half): the growing back to the estimate before the cut stays near the new path', () => {
  // doubling all the way back to the old estimate peaked at 2x the new path at 20 Mbit/s x 50 (4.4% dropped)
  for (const [c, n, roundMs] of [[200e6, 10, 50], [20e6, 50, 250]]) {
    const s = simulate({ capacity: c, ports: Array(n).fill(10e9), loss: Array(n).fill(0.01), seconds: 12, roundMs, behave: (t, ms) => (ms >= 4000 ? { rate: c / 2 } : {}) });
    const after = s.rates.slice(5000 / STEP);
    assert.ok(Math.abs(mean(after) / (c / 2) - 1) < 0.1, `${n} x ${mbit(c)}: held at ${mbit(mean(after))} on a path of ${mbit(c / 2)}`);
    assert.ok(Math.max(...after) < 1.6 * (c / 2), `${n} x ${mbit(c)}: peak ${mbit(Math.max(...after))}`);
    assert.ok(s.dropped / s.sent / n < 0.05, `${n} x ${mbit(c)}: ${((100 * s.dropped) / s.sent / n).toFixed(1)}% dropped`);
  }
});

test('past what the probe train read, startup ends at the first report behind what was sent: one 1.25x step past the path, not two', () => {
  // a report behind what was sent past the train's reading is the path it measured: before, startup waited for
  // two in a row and took a second 1.25x step (peak 1.56x the path: 0.9% dropped at one target, 8.6% at ten)
  for (const [c, n] of [[200e6, 1], [200e6, 10], [20e6, 50]]) {
    const s = simulate({ capacity: c, ports: Array(n).fill(10e9), seconds: 3, roundMs: n >= 50 ? 250 : 50, probe: { bps: c, atMs: 60 } });
    const peak = Math.max(...s.rates);
    assert.ok(peak < 1.3 * c, `${n} x ${mbit(c)}: peak ${mbit(peak)}`);
    assert.ok(s.dropped / s.sent / n < 0.005, `${n} x ${mbit(c)}: ${((100 * s.dropped) / s.sent / n).toFixed(2)}% dropped`);
    const m = mean(tail(s, 1));
    assert.ok(m > 0.9 * c && m < 1.1 * c, `${n} x ${mbit(c)}: held at ${mbit(m)}`);
  }
});

test('a probe train that read the path 2.5 to 4 times too wide: the rate holds to the path, little more is lost', () => {
  for (const f of [2.5, 4]) {
    const s = simulate({ capacity: 20e6, ports: Array(50).fill(40e6), loss: Array(50).fill(0.005), seconds: 12, roundMs: 250, seed: 3, probe: { bps: f * 20e6, atMs: 200 } });
    const m = mean(tail(s, 8));
    assert.ok(m > 0.85 * 20e6 && m < 1.15 * 20e6, `held at ${mbit(m)}`);
    assert.ok(s.dropped < 0.03 * s.sent * 50, `${((100 * s.dropped) / (s.sent * 50)).toFixed(1)}% dropped`);
  }
});

test('--max-rate caps it; the settled rate is what the next push may start from', () => {
  const s = simulate({ capacity: 1e9, ports: [10e9], seconds: 3, max: 300e6 });
  assert.equal(Math.max(...s.rates), 300e6);
  assert.ok(s.rc.settled() === null || s.rc.settled()!.bps <= 1e9);
  const t = simulate({ capacity: 20e6, ports: [1e9], seconds: 3 });
  const settled = t.rc.settled();
  assert.ok(settled !== null && settled.found && settled.bps > 0.85 * 20e6 && settled.bps < 1.1 * 20e6, `settled ${JSON.stringify(settled)}`);
});

test('a push that ends before it finds the bottleneck keeps what it reached for the next one, never less than its start', () => {
  // a fast path and a short push: still doubling at the end (a 1 Gbit/s push of a few seconds)
  const s = simulate({ capacity: 10e9, ports: [10e9], seconds: 0.6 });
  const kept = s.rc.settled();
  assert.ok(kept !== null && !kept.found && kept.bps >= 100e6 && kept.bps <= Math.max(...s.rates), `kept ${JSON.stringify(kept)}, reached ${mbit(Math.max(...s.rates))}`);
  // started from a kept rate, ended before any sample counted more: the start stays
  const t = simulate({ capacity: 10e9, ports: [10e9], seconds: 0.3, start: 900e6 });
  assert.ok((t.rc.settled()?.bps ?? 0) >= 900e6, `kept ${JSON.stringify(t.rc.settled())}`);
});

test('no feedback, no change; a forgotten target no longer counts', () => {
  const rc = new RateControl({ start: 50e6, max: 1e9, min: 1e6, roundMs: 100, reportMs: 100, datagramBits: BITS });
  for (let ms = 0; ms < 2000; ms += 10) assert.equal(rc.tick(ms), null);
  rc.stat(7, 2000e6, 0, 0);
  rc.stat(7, 2100e6, 0, 1000); // received nothing of 1000 sent: total loss
  rc.forget(7);
  assert.equal(rc.tick(2200), null);
  assert.equal(rc.rate(), 50e6);
});

// Random fleets: each target normal (up to 2% loss), or one of silent for a while, stalled for a while (a busy
// machine), gone (dropped by the push), privately lossy (20-40%) or on a slow port (a tenth of the path). Whatever
// they do: the rate stays within its bounds, a normal target is never set aside, at most a tenth are (one if fewer
// than ten), and once the trouble is over the rate comes back to what the targets still governing it can take.
test('random fleets (silent, stalled, gone, lossy, slow targets): bounds, no normal target set aside, the rate recovers', () => {
  type Kind = 'normal' | 'silent' | 'stalled' | 'gone' | 'lossy' | 'slowport';
  const kind = fc.constantFrom<Kind>('normal', 'normal', 'normal', 'silent', 'stalled', 'gone', 'lossy', 'slowport');
  fc.assert(fc.property(
    fc.constantFrom(5e6, 20e6, 100e6), fc.array(fc.record({ k: kind, from: fc.integer({ min: 0, max: 3000 }), len: fc.integer({ min: 100, max: 2500 }), loss: fc.double({ min: 0, max: 0.02, noNaN: true }) }), { minLength: 1, maxLength: 24 }),
    fc.option(fc.constantFrom(2e6, 40e6, 400e6)), fc.integer({ min: 1, max: 1000 }),
    (c, fleet, start, seed) => {
      const n = fleet.length;
      const roundMs = Math.max(50, Math.min(1000, 5 * n));
      const ports = fleet.map((f) => (f.k === 'slowport' ? c / 10 : 10 * c));
      const setAside = new Set<number>();
      const lo = Math.min(1e6, 1e9);
      let bad = '';
      const s = simulate({
        capacity: c, ports, loss: fleet.map((f) => (f.k === 'lossy' ? 0.3 : f.loss)), seconds: 14, roundMs, seed, start: start ?? undefined,
        behave: (i, ms) => {
          const f = fleet[i], during = ms >= f.from && ms < f.from + f.len;
          if (f.k === 'silent') return { silent: during };
          if (f.k === 'stalled') return { stalled: during };
          if (f.k === 'gone') return { gone: ms >= f.from };
          return {};
        },
        onRound: (ms, rc) => {
          const r = rc.rate();
          if (!bad && (r < lo || r > 1e9)) bad = `rate ${r} out of bounds at ${ms} ms`;
        },
      });
      s.slow.forEach((t) => setAside.add(t));
      assert.equal(bad, '');
      assert.ok(setAside.size <= Math.max(1, Math.floor(n / 10)), `${setAside.size} of ${n} set aside`);
      for (const t of setAside) assert.notEqual(fleet[t].k, 'normal', `normal target ${t} set aside (${JSON.stringify(fleet)})`);
      // by 6 s every trouble but the lasting ones (private loss, a slow port) is over
      const governing = fleet.map((f, i) => i).filter((i) => fleet[i].k !== 'gone' && !setAside.has(i));
      if (!governing.length) return;
      const path = Math.min(c, ...governing.map((i) => ports[i]));
      // more targets losing 30% for good than may be set aside, or half of them, is loss they share: read as the
      // sender's (docs/how-it-works.md), the rate is not held to the path there
      const lasting = fleet.filter((f) => f.k === 'lossy' || f.k === 'slowport').length;
      if (lasting > Math.max(1, Math.floor(n / 10)) || 2 * lasting >= fleet.filter((f) => f.k !== 'gone').length) return;
      const m = mean(tail(s, 3));
      assert.ok(m > 0.7 * path, `held at ${mbit(m)} for a path of ${mbit(path)}: ${JSON.stringify({ c, start, seed, fleet })}`);
    }), { numRuns: Number(process.env.PROP_RUNS ?? 60) });
});

test('a target that stops reading its socket for a while (its CPU busy) does not end startup: its next report catches up', () => {
  // paused 35 ms of every 100 ms in its first second, across one of its reports: that report shows it
  // behind what was sent, the next shows it caught up; taken for a queue, startup ended at 11-13 Mbit/s
  // and the rate took 2 s to find 1 Gbit/s again (the real tree to one target: 9 s instead of 7.5)
  const paused = (ms: number): boolean => ms >= 200 && ms < 1200 && ms % 100 >= 20 && ms % 100 < 55;
  for (const seed of [1, 2, 3, 4, 5]) {
    const s = simulate({ capacity: 1e9, ports: [10e9], seconds: 3, seed, behave: (_t, ms) => ({ paused: paused(ms) }) });
    const reached = s.rates.findIndex((r) => r >= 0.8e9) * STEP;
    assert.ok(reached >= 0 && reached < 1500, `seed ${seed}: 0.8 Gbit/s after ${reached} ms (peak ${mbit(Math.max(...s.rates))})`);
  }
});

test('random loss at every target (5% and 10% of what reaches each) is the LAN\'s, not the sender\'s: the rate holds near the path', () => {
  // read as the sender's overshoot (more than LOSSY at most targets), each round cut the rate to what got
  // through: 0.01-0.05 of the path within seconds (1 Mbit/s on 200 Mbit/s: a push that never ends)
  for (const [c, n, roundMs] of [[200e6, 10, 50], [20e6, 50, 250], [1e9, 1, 50]]) {
    for (const loss of [0.05, 0.1]) {
      for (const seed of [1, 2]) {
        const s = simulate({ capacity: c, ports: Array(n).fill(2 * c), loss: Array(n).fill(loss), seconds: 12, roundMs, seed, start: c / 2, probe: { bps: c, atMs: 0 } });
        const m = mean(tail(s, 6));
        assert.ok(m > 0.75 * c && m < 1.05 * c, `${n} x ${mbit(c)}, ${loss * 100}% random loss, seed ${seed}: held at ${mbit(m)}`);
      }
    }
  }
});

test('heavy random loss at every target (15%, 20%): the loss at rates well under the path is the LAN\'s, and the rate grows back to it', () => {
  // with USUAL_MAX (12%) the most a target's usual loss could be, 15% read as the sender's overshoot and what
  // got through was not counted back: the rate fell to 0.01-0.05 of the path (10 targets at 200 Mbit/s: 1.6
  // Mbit/s on the testbed, a 160 MB tree not done in 200 s)
  const cells: Array<[number, number, number, number, number]> = [[200e6, 10, 50, 0.15, 0.75], [200e6, 10, 50, 0.2, 0.75], [1e9, 1, 50, 0.15, 0.75], [1e9, 1, 50, 0.2, 0.75], [20e6, 50, 250, 0.15, 0.7], [20e6, 50, 250, 0.2, 0.7]];
  for (const [c, n, roundMs, loss, least] of cells) {
    for (const seed of [1, 2]) {
      const s = simulate({ capacity: c, ports: Array(n).fill(2 * c), loss: Array(n).fill(loss), seconds: 16, roundMs, seed, start: c / 2, probe: { bps: c, atMs: 0 } });
      const m = mean(tail(s, 6));
      assert.ok(m > least * c && m < 1.05 * c, `${n} x ${mbit(c)}, ${loss * 100}% random loss, seed ${seed}: held at ${mbit(m)}`);
      assert.deepEqual(s.slow, [], `${n} x ${mbit(c)}, ${loss * 100}%, seed ${seed}: set aside`);
    }
  }
});

test('heavy random loss at some of the targets (a third or half of ten, 15-20%): the others are not held to what those deliver', () => {
  // read as the sender's overshoot while most of the lossy ones were over LOSSY, their loss cut the group's rate
  // to 0.01-0.7 of the path
  for (const [k, loss] of [[3, 0.2], [5, 0.15], [5, 0.2]]) {
    const c = 200e6, n = 10;
    const s = simulate({ capacity: c, ports: Array(n).fill(2 * c), loss: Array.from({ length: n }, (_, i) => (i < k ? loss : 0.005)), seconds: 16, roundMs: 50, seed: 1, start: c / 2, probe: { bps: c, atMs: 0 } });
    const m = mean(tail(s, 6));
    assert.ok(m > 0.85 * c && m < 1.05 * c, `${k} of ${n} losing ${loss * 100}%: held at ${mbit(m)}`);
  }
});

test('a burst of loss under a second (900 ms of 30% lost, after an earlier burst) is not learned as the links\' own loss', () => {
  // timed from the first low-rate report ever, a later burst passed for a second of heavy loss: every target took
  // 30% as its link's own (added back to its deliveries, and an overshoot up to that hidden), for good
  for (const [c, n, roundMs] of [[200e6, 10, 50], [1e9, 5, 50]]) {
    const s = simulate({ capacity: c, ports: Array(n).fill(10e9), loss: Array(n).fill(0.01), seconds: 10, roundMs,
      behave: (_t, ms) => ((ms >= 2000 && ms < 2300) || (ms >= 5000 && ms < 5900) ? { loss: 0.3 } : {}) });
    const lans = [...(s.rc as unknown as { meters: Map<number, { lan: number }> }).meters.values()].map((m) => m.lan);
    assert.ok(Math.max(...lans) <= 0.1, `${n} x ${mbit(c)}: learned ${Math.max(...lans).toFixed(2)}`);
  }
});

test('random loss at every target (10%) sets no one aside: it is no target\'s slowness', () => {
  // over LOSSY in five reports in a row by chance, a tenth of the targets (the cap) were set aside and caught up
  // alone after the others: 50 targets at 20 Mbit/s with 10% loss took 36 s where the fixed rate took 21
  for (const [c, n, roundMs] of [[200e6, 10, 50], [20e6, 50, 250], [5e6, 200, 1000]]) {
    const s = simulate({ capacity: c, ports: Array(n).fill(2 * c), loss: Array(n).fill(0.1), seconds: 12, roundMs, seed: 1, start: c / 2, probe: { bps: c, atMs: 0 } });
    assert.deepEqual(s.slow, [], `${n} x ${mbit(c)}`);
  }
});
