import assert from 'node:assert/strict';
import { test } from 'node:test';
import { figures, msHistogram, originalReport, percentile, usEdges, usHistogram } from '../../src/rtt/stats';

test('nearest-rank percentiles, hand-computed', () => {
  const v = [15, 20, 35, 40, 50];
  assert.equal(percentile(v, 5), 15);   // ceil(0.25) = 1st
  assert.equal(percentile(v, 30), 20);  // ceil(1.5) = 2nd
  assert.equal(percentile(v, 40), 20);  // ceil(2.0) = 2nd
  assert.equal(percentile(v, 50), 35);  // ceil(2.5) = 3rd
  assert.equal(percentile(v, 100), 50);
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(hundred, 90), 90);
  assert.equal(percentile(hundred, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('1-ms buckets: label m counts [m-1, m) ms', () => {
  assert.deepEqual(msHistogram([40, 999.9, 1000, 1500, 2999, 12000]), [
    { ms: 1, count: 2 }, { ms: 2, count: 2 }, { ms: 3, count: 1 }, { ms: 13, count: 1 },
  ]);
});

test('log-spaced microsecond buckets, four per octave', () => {
  assert.deepEqual(usEdges(30), [0, 10, 12, 14, 17, 20, 24, 28, 34]);
  assert.deepEqual(usHistogram([5, 10, 11.9, 12, 33, 34]), [
    { fromUs: 0, toUs: 10, count: 1 }, { fromUs: 10, toUs: 12, count: 2 }, { fromUs: 12, toUs: 14, count: 1 },
    { fromUs: 28, toUs: 34, count: 1 }, { fromUs: 34, toUs: 40, count: 1 },
  ]);
  const many = Array.from({ length: 1000 }, (_, i) => 40 + (i % 50));
  assert.equal(usHistogram(many).reduce((a, b) => a + b.count, 0), 1000);
});

test('figures and the original report format', () => {
  const f = figures('h', 10, [50, 60, 70, 1200, 80, 90, 100, 55], 1, 2, 3);
  assert.equal(f.received, 8);
  assert.equal(f.missing, 2);
  assert.equal(f.minUs, 50);
  assert.equal(f.maxUs, 1200);
  assert.equal(f.p50Us, 70);
  assert.equal(originalReport(f), [
    'Missing pages =          2 (20.00%) out of total pages = 10',
    'rtt histogram',
    'msec counts',
    '---- --------',
    '   1 7',
    '   2 1',
  ].join('\n'));
});
