import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnswerTime, FileFlow, FlowAction } from '../../src/master/flow';
import { FEC_BLOCK } from '../../src/master/repair';

const T = { retryMs: 10, maxRetryMs: 80, sitOutRounds: 3, parity: false };
const miss = (total: number, ...runs: number[]) => ({ total, runs: Uint32Array.from(runs) });
const names = (as: FlowAction[]): string[] => as.map((a) => (a.a === 'pages' ? `pages:${a.runs ? [...a.runs].join(',') : 'all'}${a.parity ? `+parity:${[...a.parity].join(',')}` : ''}` : a.a === 'eof' ? `eof:${a.round}` : a.a));

test('open, all ack, pages, EOF, repair the union, done', () => {
  const f = new FileFlow(5, 100, [1, 2, 3], T, 0);
  assert.deepEqual(names(f.start(0)), ['open']);
  assert.deepEqual(f.waitingOn(), [1, 2, 3]);
  assert.deepEqual(names(f.onOpenOk(1, 1)), []);
  assert.deepEqual(names(f.onOpenOk(1, 1)), [], 'duplicate ack');
  assert.deepEqual(names(f.onOpenOk(2, 1)), []);
  assert.deepEqual(names(f.onOpenOk(3, 2)), ['pages:all']);
  assert.equal(f.phase, 'sending');
  assert.deepEqual(names(f.onSent(3)), ['eof:1']);
  assert.deepEqual(names(f.onMissing(1, 1, miss(2, 3, 2), 4)), []);
  assert.deepEqual(names(f.onDone(2, { ok: true, message: '', code: 'OK' as const }, 4)), []);
  assert.deepEqual(f.waitingOn(), [3]);
  assert.deepEqual(names(f.onMissing(3, 1, miss(3, 4, 3), 5)), ['pages:3,4']);
  assert.equal(f.pagesResent, 4);
  assert.deepEqual(names(f.onMissing(3, 1, miss(3, 4, 3), 5)), [], 'stale answer while sending');
  assert.deepEqual(names(f.onSent(6)), ['eof:2']);
  assert.deepEqual(names(f.onMissing(1, 1, miss(1, 9, 1), 7)), [], 'answer to an old round');
  f.onDone(1, { ok: true, message: '', code: 'OK' as const }, 7);
  assert.deepEqual(names(f.onDone(3, { ok: true, message: '', code: 'OK' as const }, 8)), ['finished']);
  assert.equal(f.phase, 'finished');
  assert.deepEqual([...f.outcomes.keys()].sort(), [1, 2, 3]);
});

test('missing runs split over several datagrams are merged', () => {
  const f = new FileFlow(1, 1000, [1, 2], T, 0, true);
  assert.deepEqual(names(f.start(0)), ['pages:all']);
  f.onSent(1);
  f.onMissing(1, 1, miss(4, 0, 1, 10, 1), 2);
  assert.deepEqual(names(f.onMissing(1, 1, miss(4, 20, 2), 2)), [], 'still waiting for target 2');
  assert.deepEqual(names(f.onMissing(2, 1, miss(1, 10, 1), 3)), ['pages:0,1,10,1,20,2']);
});

test('unanswered OPEN and EOF are re-sent with back-off', () => {
  const f = new FileFlow(1, 10, [1], T, 0);
  f.start(0);
  assert.deepEqual(names(f.tick(5)), []);
  assert.deepEqual(names(f.tick(10)), ['open']);
  assert.deepEqual(names(f.tick(25)), []);
  assert.deepEqual(names(f.tick(30)), ['open']);
  f.onOpenOk(1, 31);
  f.onSent(32);
  assert.deepEqual(names(f.tick(42)), ['eof:1']);
});

test('a dropped target stops holding the file', () => {
  const f = new FileFlow(1, 10, [1, 2], T, 0);
  f.start(0);
  f.onOpenOk(1, 1);
  assert.deepEqual(names(f.drop(2, 'silent', 2)), ['pages:all']);
  assert.deepEqual(f.outcomes.get(2), { ok: false, message: 'silent', code: 'NOT_DELIVERED' as const });
  f.onSent(3);
  assert.deepEqual(names(f.drop(1, 'gone', 4)), ['finished']);
});

test('a target making no progress sits out; the others finish', () => {
  const f = new FileFlow(1, 100, [1, 2], T, 0, true);
  f.start(0);
  f.onSent(0);
  let t = 1;
  f.onMissing(1, 1, miss(50, 0, 50), t);
  f.onMissing(2, 1, miss(1, 99, 1), t);
  f.onDone(2, { ok: true, message: '', code: 'OK' as const }, t);
  let acts: FlowAction[] = [];
  for (let round = 2; round <= 6 && f.phase !== 'finished'; round++) {
    f.onSent(++t);
    acts = f.onMissing(1, round, miss(50, 0, 50), ++t);
  }
  assert.deepEqual(names(acts), ['finished']);
  assert.equal(f.outcomes.get(1)?.satOut, true);
  assert.equal(f.outcomes.get(2)?.ok, true);
});

test('no needers: finished at once', () => {
  assert.deepEqual(names(new FileFlow(1, 10, [], T, 0).start(0)), ['finished']);
});

test('targets that lost different pages of a block get parity pages, fresh ones each round', () => {
  const p1 = FEC_BLOCK + 6; // a page of block 1
  const f = new FileFlow(5, FEC_BLOCK + 36, [1, 2, 3], { ...T, parity: true }, 0, true);
  assert.deepEqual(names(f.start(0)), ['pages:all']);
  assert.deepEqual(names(f.onSent(1)), ['eof:1']);
  f.onMissing(1, 1, miss(2, 3, 2), 2);         // pages 3, 4
  f.onMissing(2, 1, miss(1, p1, 1), 2);        // block 1: one target, one page: plain
  assert.deepEqual(names(f.onMissing(3, 1, miss(3, 5, 3), 2)), [`pages:${p1},1+parity:0,0,3`]);
  assert.equal(f.pagesResent, 4);
  assert.equal(f.parityPages, 3);
  assert.deepEqual(names(f.onSent(3)), ['eof:2']);
  f.onDone(2, { ok: true, message: '', code: 'OK' as const }, 4);
  // a parity page was lost on the way: two more, numbered after the first three
  f.onMissing(1, 2, miss(1, 3, 1), 5);
  assert.deepEqual(names(f.onMissing(3, 2, miss(2, 5, 1, 7, 1), 5)), ['pages:+parity:0,3,2']);
  assert.deepEqual(names(f.onSent(6)), ['eof:3']);
  f.onDone(1, { ok: true, message: '', code: 'OK' as const }, 7);
  // one target left: plain re-sends cost the same and need no decoding
  assert.deepEqual(names(f.onMissing(3, 3, miss(1, 7, 1), 8)), ['pages:7,1']);
});

test('targets that answer "wait" are not asked again at the short interval', () => {
  const f = new FileFlow(5, 10, [1, 2], T, 0, true);
  f.start(0);
  assert.deepEqual(names(f.onSent(0)), ['eof:1']);
  assert.deepEqual(names(f.tick(T.retryMs)), ['eof:1'], 'no answer: asked again after retryMs');
  f.onWait(1, 1, 20);
  assert.deepEqual(f.waitingOn(), [1, 2], 'still awaited (its Done will come)');
  f.onWait(2, 1, 20);
  assert.deepEqual(names(f.tick(100)), [], 'every awaited target is verifying: no EOF at the short interval');
  assert.deepEqual(names(f.tick(20 + 250)), ['eof:1'], 'but asked again later (a lost Done)');
  f.onDone(1, { ok: true, message: '', code: 'OK' as const }, 300);
  assert.deepEqual(names(f.onDone(2, { ok: true, message: '', code: 'OK' as const }, 300)), ['finished']);
});

test('at the tail (nothing left to open), EOF rounds repair every block by parity with a margin if it costs less line time than the round took; checkpoints never', () => {
  let pageMs = 0;
  const p1 = FEC_BLOCK + 6;
  const f = new FileFlow(5, FEC_BLOCK + 36, [1, 2, 3], { ...T, parity: true, tailPageMs: () => pageMs }, 0, true);
  f.start(0);
  // a checkpoint's repair is exact whatever the phase of the push
  pageMs = 0.01;
  assert.equal(f.repair([Uint32Array.of(3, 2), Uint32Array.of(5, 3)]).parityPages, 3);
  f.onSent(1);
  f.onMissing(1, 1, miss(2, 3, 2), 2);
  f.onMissing(2, 1, miss(1, p1, 1), 2);
  // answered in 1 ms, 100 pages' line time: block 0: worst 3, two more for three
  // targets (fresh indices after the checkpoint's 3); block 1: one page one
  // target lost, by parity now: 1 + 2
  assert.deepEqual(names(f.onMissing(3, 1, miss(3, 5, 3), 2)), ['pages:+parity:0,3,5,1,0,3']);
  // the same round answered as fast, but a page takes 0.5 ms (a slow link): the 4-page margin costs more than the round
  pageMs = 0.5;
  f.onSent(3);
  f.onMissing(1, 2, miss(1, 3, 1), 4);
  f.onMissing(2, 2, miss(1, p1, 1), 4);
  assert.deepEqual(names(f.onMissing(3, 2, miss(1, 5, 1), 4)), [`pages:${p1},1+parity:0,8,1`]);
  // not at the tail: as before (plain where one target lacks the pages)
  pageMs = 0;
  f.onSent(5);
  f.onMissing(1, 3, miss(1, 3, 1), 9);
  f.onMissing(2, 3, miss(1, p1, 1), 9);
  assert.deepEqual(names(f.onMissing(3, 3, miss(1, 4, 1), 9)), [`pages:${p1},1+parity:0,9,1`]);
});

test('an EOF is asked again after the targets\' answer time to EOFs where one is given, and the re-send says so', () => {
  const f = new FileFlow(5, 10, [1, 2], { ...T, eofRetryMs: () => 50 }, 0, true);
  f.start(0);
  const eof = f.onSent(0);
  assert.deepEqual(eof, [{ a: 'eof', round: 1 }], 'the first EOF of a round is no re-send');
  assert.deepEqual(names(f.tick(T.retryMs)), [], 'not after the OPEN\'s retry');
  assert.deepEqual(f.tick(50), [{ a: 'eof', round: 1, again: true }]);
  assert.deepEqual(names(f.tick(50 + T.maxRetryMs - 1)), [], 'backing off from there (doubled, to the cap)');
  assert.deepEqual(names(f.tick(50 + T.maxRetryMs)), ['eof:1']);
});

test('answer times: a re-send waits for the usual answer and four deviations, within its floor and cap', () => {
  const a = new AnswerTime();
  assert.equal(a.timeout(30, 1000), 30, 'nothing known: the floor');
  for (let i = 0; i < 50; i++) a.sample(5);
  assert.equal(a.timeout(30, 1000), 30, 'quick steady answers: the floor');
  const b = new AnswerTime();
  for (let i = 0; i < 200; i++) b.sample(i % 2 ? 20 : 180); // a busy target: answers of 20 and 180 ms
  const t = b.timeout(30, 1000);
  assert.ok(t >= 180 && t <= 500, `answers of 20-180 ms: ${t} ms`);
  assert.equal(b.timeout(30, 200), 200, 'the cap');
});

test('a re-sent OPEN says so (its ack does not time the OPEN: Karn)', () => {
  const f = new FileFlow(5, 10, [1, 2], T, 0);
  assert.deepEqual(f.start(0), [{ a: 'open' }]);
  assert.deepEqual(f.tick(T.retryMs), [{ a: 'open', again: true }]);
});
