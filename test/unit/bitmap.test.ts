import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../src/native';

function reference(bm: Buffer, nbits: number): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < nbits) {
    if (bm[i >> 3] & (1 << (i & 7))) { i++; continue; }
    const s = i;
    while (i < nbits && !(bm[i >> 3] & (1 << (i & 7)))) i++;
    out.push(s, i - s);
  }
  return out;
}

test('clear runs of random bitmaps match a reference', () => {
  let seed = 42;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  for (let iter = 0; iter < 300; iter++) {
    const nbits = Math.floor(rnd() * 700);
    const density = rnd();
    const bm = Buffer.alloc(Math.ceil(nbits / 8) + 1);
    let set = 0;
    for (let i = 0; i < nbits; i++) if (rnd() < density) { bm[i >> 3] |= 1 << (i & 7); set++; }
    const r = native.clearRuns(bm, nbits, 1 << 20);
    assert.deepEqual([...r.runs], reference(bm, nbits), `nbits ${nbits}`);
    assert.equal(r.count, set);
  }
});

test('empty, full, word edges and the run cap', () => {
  assert.deepEqual([...native.clearRuns(Buffer.alloc(0), 0, 10).runs], []);
  assert.deepEqual([...native.clearRuns(Buffer.alloc(8), 64, 10).runs], [0, 64]);
  assert.deepEqual([...native.clearRuns(Buffer.alloc(8, 0xff), 64, 10).runs], []);
  const bm = Buffer.alloc(32);
  bm[8] = 1; // bit 64 set: runs [0,64) and [65,256)
  assert.deepEqual([...native.clearRuns(bm, 256, 10).runs], [0, 64, 65, 191]);
  const alt = Buffer.alloc(16, 0x55); // every other bit clear: 64 runs
  assert.equal(native.clearRuns(alt, 128, 5).runs.length, 10);
  assert.throws(() => native.clearRuns(Buffer.alloc(1), 9, 1), /bitmap shorter than nbits/);
});
