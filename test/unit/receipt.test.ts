// The catcher's receipt machine (catcher/receipt.ts), without sockets or
// files: example sequences, then random ones (fast-check), with the catcher's
// side played as it does it (create, commit and their results).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Receipt, ReceiptAction } from '../../src/catcher/receipt';
import { SEG_BASE } from '../../src/wire/manifest';
import { PACK_BASE, PACK_BYTES } from '../../src/wire/pack';
import { DoneCode, Msg } from '../../src/wire/protocol';

const RUNS = Number(process.env.PROP_RUNS ?? 300);
const H = Buffer.alloc(32, 1);      // the master's hash of the file
const OTHER = Buffer.alloc(32, 2);  // another (an older pass's, or of pages another holder of the key forged)
const F = 5;                        // a file this target needs
const N = 6;                        // one it does not

function machine(): Receipt {
  return new Receipt((o) => o === F);
}

const kinds = (acts: ReceiptAction[]): string[] => acts.map((a) => (a.a === 'reply' ? `reply:${a.type}` : a.a === 'done' ? `done:${a.ok}` : a.a));

test('a file: OPEN makes it, the hash and the pages in either order commit it, the EOF gets Done', () => {
  const r = machine();
  assert.deepEqual(kinds(r.open(F, true)), ['create']);
  assert.deepEqual(kinds(r.created(F)), [`reply:${Msg.OpenOk}`]);
  assert.deepEqual(kinds(r.open(F, true)), [`reply:${Msg.OpenOk}`], 'a repeated OPEN is acked again');
  assert.deepEqual(kinds(r.complete(F, H)), [], 'every page, no hash yet: wait for it');
  assert.deepEqual(kinds(r.eof(F, 1, true)), [`reply:${Msg.NeedSum}`], 'its Sums was lost: ask');
  assert.deepEqual(kinds(r.sumsIn([[F, H]])), ['commit']);
  assert.deepEqual(kinds(r.committed(F)), ['done:true'], 'the EOF asked already: Done now');
  assert.deepEqual(kinds(r.eof(F, 2, true)), ['done:true']);
  assert.deepEqual(r.unfinished(), []);

  const s = machine();
  s.sumsIn([[F, H]]); // before the OPEN (a set-aside target's catch-up)
  s.open(F, true);
  s.created(F);
  assert.deepEqual(kinds(s.eof(F, 1, true)), ['missing']);
  assert.deepEqual(kinds(s.complete(F, H)), ['commit']);
  assert.deepEqual(kinds(s.committed(F)), ['done:true']);
});

test('the EOF answered "wait" while the last pages were hashed, and no Sums came: NeedSum when they are, not at the next EOF', () => {
  // the master holds an EOF until the file's Sums went, so an EOF with no hash here means the Sums was lost;
  // the master waits busyRetryMs (250 ms) before the next EOF to targets that said "wait"
  const r = machine();
  r.open(F, true);
  r.created(F);
  assert.deepEqual(kinds(r.eof(F, 2, true)), ['missing'], 'every page is here but not yet hashed: the catcher answers Wait');
  const acts = r.complete(F, H);
  assert.deepEqual(kinds(acts), [`reply:${Msg.NeedSum}`], 'its Sums was lost: asked for at once');
  assert.equal(acts[0].a === 'reply' && acts[0].index, 2, 'for the round that asked');
  assert.deepEqual(kinds(r.sumsIn([[F, H]])), ['commit']);
  assert.deepEqual(kinds(r.committed(F)), ['done:true']);

  const s = machine();
  s.open(F, true);
  s.created(F);
  assert.deepEqual(kinds(s.complete(F, H)), [], 'no EOF yet: the Sums may still come, nothing to ask');
  assert.deepEqual(kinds(s.eof(F, 1, false)), [], 'an EOF awaiting others does not count');
});

test('content that is not the master\'s fails; a file not needed or not asked is left alone', () => {
  const r = machine();
  r.open(F, true);
  r.created(F);
  r.sumsIn([[F, H]]);
  assert.deepEqual(kinds(r.complete(F, OTHER)), ['discard', 'done:false']);
  assert.match(r.unfinished()[0][1], /content hash mismatch/);
  assert.deepEqual(kinds(r.eof(F, 1, true)), ['done:false']);
  assert.deepEqual(r.open(N, true), []);
  assert.deepEqual(r.eof(N, 1, true), []);
  assert.deepEqual(r.sumsIn([[N, H]]), []);
  const s = machine();
  assert.deepEqual(s.open(F, false), [], 'not awaited: the master has my answer');
  assert.deepEqual(kinds(s.eof(F, 1, true)), ['done:false'], 'asked about a file never opened');
});

test('an Abort drops a file being received, never a committed one; a write error fails it', () => {
  const r = machine();
  r.open(F, true);
  r.created(F);
  assert.deepEqual(kinds(r.abort(F)), ['discard']);
  assert.equal(r.opened(F), false);
  r.open(F, true);
  r.created(F);
  assert.deepEqual(kinds(r.sinkError(F, 'ENOSPC')), ['discard', 'done:false']);
  assert.match(r.unfinished()[0][1], /write failed: ENOSPC/);
  const c = machine();
  c.sumsIn([[F, H]]);
  c.open(F, true);
  c.created(F);
  c.complete(F, H);
  c.committed(F);
  assert.deepEqual(c.abort(F), []);
  assert.equal(c.phase(F), 'committed');
});

test('a manifest segment waits for its channel line; only the hash from the channel lets it be planned', () => {
  const r = machine();
  assert.deepEqual(r.open(SEG_BASE, true), [], 'OPEN before the line: held');
  assert.deepEqual(kinds(r.segmentLine(0, 100, H)), ['openSegment']);
  assert.deepEqual(kinds(r.segmentOpened(0)), [`reply:${Msg.OpenOk}`]);
  assert.deepEqual(kinds(r.eof(SEG_BASE, 1, true)), ['missing']);
  assert.deepEqual(kinds(r.complete(SEG_BASE, H)), ['plan']);
  assert.deepEqual(kinds(r.eof(SEG_BASE, 2, true)), [`reply:${Msg.Wait}`], 'being planned');
  assert.deepEqual(kinds(r.segmentPlanned(0)), ['done:true'], 'the EOF asked while it was planned: Done at once, not at the next EOF');
  assert.equal(r.nextSeg, 1);
  assert.deepEqual(kinds(r.eof(SEG_BASE, 3, true)), ['done:true']);
  assert.deepEqual(kinds(r.segmentLine(1, 100, H)), [], 'no OPEN yet');
  assert.deepEqual(kinds(r.open(SEG_BASE + 1, true)), ['openSegment']);
  r.segmentOpened(1);
  assert.deepEqual(kinds(r.complete(SEG_BASE + 1, OTHER)), ['fatal'], 'not what the channel said');
  assert.equal(r.segmentPhase(1), 'failed');
  assert.deepEqual(kinds(r.open(SEG_BASE + 1, true)), ['done:false']);
  assert.deepEqual(r.open(SEG_BASE + 9999, true), [], 'far ahead: not held');
});

test('a segment planned before any EOF asked about it: no Done until one does', () => {
  const r = machine();
  r.open(SEG_BASE, true);
  r.segmentLine(0, 100, H);
  r.segmentOpened(0);
  assert.deepEqual(kinds(r.complete(SEG_BASE, H)), ['plan']);
  assert.deepEqual(kinds(r.eof(SEG_BASE, 1, false)), [], 'an EOF awaiting others');
  assert.deepEqual(r.segmentPlanned(0), [], 'not asked: the master has not sent its EOF to this target yet');
  assert.deepEqual(kinds(r.eof(SEG_BASE, 1, true)), ['done:true']);
});

type Ev =
  | { e: 'open'; asked: boolean } | { e: 'eof'; asked: boolean } | { e: 'sums'; good: boolean } | { e: 'complete'; good: boolean }
  | { e: 'abort' } | { e: 'sinkError' } | { e: 'noise' };

const evArb: fc.Arbitrary<Ev> = fc.oneof(
  fc.record({ e: fc.constant('open' as const), asked: fc.boolean() }),
  fc.record({ e: fc.constant('eof' as const), asked: fc.boolean() }),
  fc.record({ e: fc.constant('sums' as const), good: fc.boolean() }),
  fc.record({ e: fc.constant('complete' as const), good: fc.boolean() }),
  fc.constant({ e: 'abort' as const }),
  fc.constant({ e: 'sinkError' as const }),
  fc.constant({ e: 'noise' as const }),
);

test('random events: a file is committed only with the content of the master\'s latest hash, once; Done ok only after; every asked EOF answered once', () => {
  fc.assert(fc.property(fc.array(evArb, { maxLength: 40 }), fc.boolean(), fc.boolean(), (evs, createFails, commitFails) => {
    const r = machine();
    let latest: Buffer | null = null;      // the last hash the master signed for F
    let digest: Buffer | null = null;      // what the last completion carried
    let committedOnce = false;
    let cycle = { committed: false, commits: 0 };
    const play = (acts: ReceiptAction[]): ReceiptAction[] => {
      const out: ReceiptAction[] = [];
      for (const a of acts) {
        out.push(a);
        if ('object' in a) assert.notEqual(a.object, N, 'something done about a file not needed');
        if (a.a === 'create') { cycle = { committed: false, commits: 0 }; out.push(...play(createFails ? r.failed(F, 'cannot create temp file') : r.created(F))); }
        if (a.a === 'commit') {
          assert.ok(digest && latest && digest.equals(latest), 'committed content that is not the master\'s latest hash');
          cycle.commits++;
          assert.equal(cycle.commits, 1, 'committed twice');
          if (commitFails) out.push(...play(r.failed(F, 'cannot commit')));
          else { cycle.committed = true; committedOnce = true; out.push(...play(r.committed(F))); }
        }
        if (a.a === 'done' && a.ok) assert.ok(cycle.committed, 'Done ok for a file not committed');
        if (a.a === 'done') assert.equal(a.ok, a.code === DoneCode.Ok, 'Done ok and its code agree');
      }
      return out;
    };
    for (const ev of evs) {
      const before = r.phase(F);
      switch (ev.e) {
        case 'open': play(r.open(F, ev.asked)); break;
        case 'eof': {
          const acts = play(r.eof(F, 1, ev.asked));
          const answers = acts.filter((a) => a.a === 'missing' || a.a === 'done' || (a.a === 'reply' && a.type !== Msg.OpenOk));
          if (ev.asked && (before !== undefined || r.opened(F))) assert.equal(answers.length, 1, `an asked EOF in ${before} answered ${answers.length} times`);
          if (!ev.asked) assert.deepEqual(acts, []);
          break;
        }
        case 'sums': latest = ev.good ? H : OTHER; play(r.sumsIn([[F, latest], [N, H]])); break;
        case 'complete': {
          const d = ev.good ? H : OTHER;
          if (before === 'receiving') digest = d; // a completion after the first is not the file's (the sink is closed)
          play(r.complete(F, d));
          break;
        }
        case 'abort': {
          const acts = play(r.abort(F));
          if (before === 'committed') assert.deepEqual(acts, []);
          else if (before !== undefined) assert.deepEqual(kinds(acts), ['discard']);
          break;
        }
        case 'sinkError': play(r.sinkError(F, 'EIO')); break;
        case 'noise': play(r.open(N, true)); play(r.eof(N, 1, true)); break;
      }
      if (r.phase(F) === 'committed') assert.ok(committedOnce);
    }
  }), { numRuns: RUNS * 10 });
});

test('a pack of small files: its OPEN carries its size; once checked, each file it holds has its own outcome', () => {
  const P = PACK_BASE + 3;
  const F2 = 7; // another file this target needs
  const r = new Receipt((o) => o === F || o === F2);
  assert.deepEqual(r.open(P, true, 0), [], 'a pack OPEN without a size (an Opens batch: the master never sends one so) is ignored');
  assert.deepEqual(r.open(P, true, PACK_BYTES + 1), [], 'nor one bigger than the master makes');
  assert.deepEqual(r.open(P, false, 5000), [], 'not awaited: nothing');
  r.sumsIn([[P, H]]);
  assert.deepEqual(r.open(P, true, 5000), [{ a: 'create', object: P, size: 5000 }]);
  assert.deepEqual(kinds(r.created(P)), [`reply:${Msg.OpenOk}`]);
  assert.deepEqual(kinds(r.complete(P, H)), [], 'the hash of a pack not opened here yet is not kept (it may not be for this target at all)');
  assert.deepEqual(kinds(r.eof(P, 1, true)), [`reply:${Msg.NeedSum}`]);
  assert.deepEqual(kinds(r.sumsIn([[P, H]])), ['commit']);
  // the catcher writes the files it needs: F committed, F2 failed, N not needed here
  assert.equal(r.wantsMember(F), true);
  assert.equal(r.wantsMember(N), false, 'a file this target does not need is not written');
  assert.equal(r.wantsMember(PACK_BASE + 1), false, 'a pack is no file of a pack');
  r.memberCommitted(F);
  const failed = r.memberFailed(F2, 'cannot create temp file: EROFS (open)', 'CREATE_FAILED');
  assert.deepEqual(kinds(failed), ['done:false'], 'a file of the pack that failed is told at once, with its reason');
  assert.equal(failed[0].a === 'done' && failed[0].object, F2);
  assert.deepEqual(kinds(r.committed(P)), ['done:true'], 'the pack itself is done (its EOF asked already)');
  assert.equal(r.phase(F), 'committed');
  assert.equal(r.wantsMember(F), false, 'a file had already (a catch-up sends it again) is not written twice');
  assert.deepEqual(kinds(r.open(F, true)), ['done:true'], 'an OPEN of a file it had in a pack: Done');
  assert.deepEqual(r.unfinished().map(([o, , code]) => [o, code]), [[F2, 'CREATE_FAILED']]);
  assert.deepEqual(kinds(r.open(P, true, 5000)), ['done:true'], 'a re-sent OPEN of the pack once done: Done');
});

test('a set-aside target: a small file that came alone before, and comes in a pack in its catch-up, is written from the pack', () => {
  const P = PACK_BASE + 9;
  const F2 = 7;
  const r = new Receipt((o) => o === F || o === F2);
  // before it was set aside: F opened alone, some pages in (receiving); F2 complete, its hash not in (awaitHash)
  assert.deepEqual(kinds(r.open(F, true)), ['create']);
  r.created(F);
  r.open(F2, true);
  r.created(F2);
  assert.deepEqual(kinds(r.complete(F2, H)), []);
  assert.equal(r.phase(F2), 'awaitHash');
  // the catch-up: both in one pack, checked
  r.open(P, true, 5000);
  r.created(P);
  r.sumsIn([[P, H]]);
  assert.deepEqual(kinds(r.complete(P, H)), ['commit']);
  for (const o of [F, F2]) {
    assert.equal(r.wantsMember(o), true, 'a copy still coming alone is no copy had: the pack writes it');
    assert.deepEqual(r.supersede(o), [{ a: 'discard', object: o }], 'the copy coming alone is dropped first (its sink and temp file)');
    assert.deepEqual(r.supersede(o), [], 'once');
    r.memberCommitted(o);
  }
  assert.deepEqual(kinds(r.committed(P)), []);
  assert.deepEqual(kinds(r.eof(P, 1, true)), ['done:true']);
  assert.deepEqual(r.unfinished(), [], 'the master takes the pack\'s Done for both: neither is left undelivered here');
  assert.deepEqual(kinds(r.eof(F, 3, true)), ['done:true'], 'an EOF of the copy that came alone: Done');
  assert.deepEqual(kinds(r.complete(F, OTHER)), [], 'its sink is gone: nothing more comes of it');
  // one that failed alone stays failed (the master was told)
  const s = new Receipt((o) => o === F);
  s.open(F, true);
  s.created(F);
  s.failed(F, 'write failed: EIO', 'WRITE_FAILED');
  assert.equal(s.wantsMember(F), false);
  assert.deepEqual(s.supersede(F), []);
});

test('a pack that fails its hash fails as a whole: none of its files is written', () => {
  const P = PACK_BASE;
  const r = new Receipt((o) => o === F);
  r.open(P, true, 3000);
  r.created(P);
  r.sumsIn([[P, H]]);
  assert.deepEqual(kinds(r.complete(P, OTHER)), ['discard', 'done:false']);
  assert.equal(r.wantsMember(F), true, 'its files are still to come (the master reports them failed with the pack)');
});

test('packs held at once are bounded by what the target told the master it can receive: forged pack OPENs cannot pile up', () => {
  const r = new Receipt(() => false);
  r.packLimit = 2;
  assert.deepEqual(kinds(r.open(PACK_BASE + 1, true, 3000)), ['create']);
  assert.deepEqual(kinds(r.open(PACK_BASE + 2, true, 3000)), ['create']);
  assert.deepEqual(r.open(PACK_BASE + 3, true, 3000), [], 'a third at once: more than the master sends');
  r.created(PACK_BASE + 1);
  r.sumsIn([[PACK_BASE + 1, H]]);
  r.complete(PACK_BASE + 1, H);
  r.committed(PACK_BASE + 1);
  assert.deepEqual(kinds(r.open(PACK_BASE + 3, true, 3000)), ['create'], 'one committed: room for another');
  r.abort(PACK_BASE + 2);
  assert.deepEqual(kinds(r.open(PACK_BASE + 4, true, 3000)), ['create'], 'one aborted: room for another');
  r.failed(PACK_BASE + 3, 'x');
  r.abort(PACK_BASE + 3); // a failed pack aborted after: not let go twice
  assert.deepEqual(kinds(r.open(PACK_BASE + 5, true, 3000)), ['create']);
  assert.deepEqual(r.open(PACK_BASE + 6, true, 3000), [], 'two held again (4 and 5)');
});
