// The rate control against a simulated link: a bottleneck of C bits/s with a
// small queue, optional random loss, stats (received, expected) from the
// target every 100 ms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateControl } from '../../src/master/rate';

const PKT = 1514 * 8;

function simulate(capacity: number, randomLoss: number, seconds: number, max = 1e9, statMs = 100): { rc: RateControl; rates: number[] } {
  const rc = new RateControl({ start: 100e6, max, min: 1e6 });
  let sent = 0;
  let recv = 0;
  let queue = 0;
  let seed = 42;
  const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const rates: number[] = [];
  for (let ms = 0; ms < seconds * 1000; ms += 10) {
    const n = (rc.rate() / PKT) * 0.01;
    sent += n;
    queue += n;
    const out = Math.min(queue, (capacity / PKT) * 0.01);
    queue -= out;
    const qmax = (capacity / PKT) * 0.05; // 50 ms of queue, as tbf latency 50ms
    if (queue > qmax) queue = qmax; // the rest is dropped
    for (let i = 0; i < Math.round(out); i++) if (rand() >= randomLoss) recv++;
    // expected: what the target knows from the seq of the last datagram it got (the queue is still to come)
    if (ms % statMs === 0 && ms > 0) rc.stat(1, ms, recv, Math.round(sent - queue));
    rc.tick(ms);
    rates.push(rc.rate());
  }
  return { rc, rates };
}

test('a 20 Mbit/s bottleneck: the rate settles around it, from 100 Mbit/s', () => {
  const { rates } = simulate(20e6, 0, 30);
  const tail = rates.slice(-1000); // the last 10 s
  const mean = tail.reduce((a, b) => a + b, 0) / tail.length;
  assert.ok(mean > 12e6 && mean < 26e6, `settled at ${(mean / 1e6).toFixed(1)} Mbit/s`);
});

test('an idle gigabit path with 1% random loss: the rate climbs to --max-rate', () => {
  const { rc } = simulate(10e9, 0.01, 20, 400e6);
  assert.equal(rc.rate(), 400e6);
});

test('a 200 Mbit/s bottleneck with 1% random loss: near the link, not collapsed by random loss', () => {
  const { rates } = simulate(200e6, 0.01, 30);
  const tail = rates.slice(-1000);
  const mean = tail.reduce((a, b) => a + b, 0) / tail.length;
  assert.ok(mean > 130e6 && mean < 260e6, `settled at ${(mean / 1e6).toFixed(1)} Mbit/s`);
});

test('no feedback, no change; a forgotten target no longer counts', () => {
  const rc = new RateControl({ start: 50e6, max: 1e9, min: 1e6 });
  for (let ms = 0; ms < 2000; ms += 10) assert.equal(rc.tick(ms), null);
  rc.stat(7, 2000, 0, 0);
  rc.stat(7, 2100, 0, 1000); // received nothing of 1000 sent: total loss
  rc.forget(7);
  assert.equal(rc.tick(2200), null);
  assert.equal(rc.rate(), 50e6);
});

test('one slow target among fast ones is set aside and does not pull the rate down', () => {
  const rc = new RateControl({ start: 100e6, max: 1e9, min: 1e6 });
  let exp = 0;
  for (let ms = 0; ms <= 3000; ms += 100) {
    exp += 800;
    rc.stat(1, ms, exp, exp);              // keeps up
    rc.stat(2, ms, exp * 0.999, exp);      // keeps up
    rc.stat(3, ms, exp * 0.3, exp);        // gets 30%
    rc.tick(ms);
  }
  assert.deepEqual(rc.takeSlow(), [3]);
  assert.ok(rc.rate() >= 100e6, `rate ${rc.rate()}`);
});

test('the first report is judged: with a report a second (hundreds of targets), the starting rate is cut after one second, not two', () => {
  const { rates } = simulate(20e6, 0, 3, 1e9, 1000);
  const firstCut = rates.findIndex((r) => r < 100e6) * 10;
  assert.ok(firstCut > 0 && firstCut <= 1100, `first cut at ${firstCut} ms`);
});
