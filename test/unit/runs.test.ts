import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pagesOf, runPages, unionRuns } from '../../src/wire/runs';

test('union merges overlapping and touching runs', () => {
  const u = unionRuns([Uint32Array.from([0, 2, 10, 5]), Uint32Array.from([1, 3, 15, 1, 30, 1])]);
  assert.deepEqual([...u], [0, 4, 10, 6, 30, 1]);
  assert.equal(runPages(u), 11);
  assert.deepEqual([...unionRuns([])], []);
  assert.deepEqual([...unionRuns([Uint32Array.from([5, 1]), Uint32Array.from([5, 1])])], [5, 1]);
});

test('pages of a size', () => {
  assert.equal(pagesOf(0, 1436), 0);
  assert.equal(pagesOf(1436, 1436), 1);
  assert.equal(pagesOf(1437, 1436), 2);
  assert.equal(pagesOf(5 * 2 ** 30, 1436), 3738656);
});
