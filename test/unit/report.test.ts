// report.ts: the exit status from the targets' states, and the report's
// lines for them (a fabricated PushReport; no push runs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PushReport, TargetReport } from '../../src/master/summary';
import { exitCode, formatReport } from '../../src/operator/report';

function target(host: string, state: TargetReport['state'], extra: Partial<TargetReport> = {}): TargetReport {
  return {
    host, state, filesSent: 1, bytesSent: 10, needed: 1, missingPages: 0, failures: [], slowest: null, rttUs: [],
    packets: null, usage: null, feedback: 2, slow: false, ...extra,
  };
}

function report(targets: TargetReport[], extra: Partial<PushReport> = {}): PushReport {
  return {
    targets, entries: 2, files: 1, bytes: 10, pagesSent: 1, pagesResent: 0, parityPages: 0, pagesChecked: 0, seconds: 1,
    skipped: [], changed: [], quit: false, session: '00000001', pageSize: 1449, started: 0, dryRun: false, segments: 1,
    stats: {
      pktsSent: 0, bytesSent: 0, dataSent: 0, ctlSent: 0, sendErrors: 0, pktsRecv: 0, dataExpected: 0, dataRecv: 0, dataNew: 0,
      dataDup: 0, dataStray: 0, badAuth: 0, ownEcho: 0, badFormat: 0, ctlRecv: 0, recvBatches: 0, paritySent: 0, parityRecv: 0,
      fecRecovered: 0, lateNs: 0, idleNs: 0,
    },
    usage: { cpuUser: 0, cpuSystem: 0, maxRssKiB: 0 }, rate: { adaptive: false, history: [1e8], max: 1e8 },
    ...extra,
  };
}

test('exit status: 0 all exact; 2 a target lacks an entry or a source file changed; 3 a target dropped or unreachable, or -q', () => {
  assert.equal(exitCode(report([target('a', 'OK'), target('b', 'OK')])), 0);
  assert.equal(exitCode(report([target('a', 'OK'), target('b', 'FAILED', { failures: [{ path: 'x', error: 'ENOSPC', code: 'WRITE_FAILED' }] })])), 2);
  assert.equal(exitCode(report([target('a', 'OK')], { changed: ['x'] })), 2);
  assert.equal(exitCode(report([target('a', 'OK'), target('b', 'DROPPED', { error: 'silent for 60 s' })])), 3);
  assert.equal(exitCode(report([target('a', 'UNREACHABLE', { error: 'remote shell failed' }), target('b', 'OK')])), 3);
  // a dropped target outranks a failed file elsewhere
  assert.equal(exitCode(report([target('a', 'FAILED'), target('b', 'DROPPED')])), 3);
  assert.equal(exitCode(report([target('a', 'OK')], { quit: true })), 3);
});

test('the report names each target\'s state and what went wrong', () => {
  const text = formatReport(report([target('a', 'OK'), target('b', 'DROPPED', { error: 'silent for 3 s', filesSent: 0 }),
    target('c', 'FAILED', { failures: [{ path: 'app.conf', error: 'ENOSPC', code: 'WRITE_FAILED' }] })]));
  assert.match(text, /^a +OK /m);
  assert.match(text, /^b +DROPPED .*silent for 3 s/m);
  assert.match(text, /^c +FAILED .*1 not delivered/m);
  assert.match(text, /^ +app\.conf: ENOSPC/m);
  assert.match(text, /machines dropped: b \(silent for 3 s\)/);
  assert.match(text, /^1 of 3 targets OK/m);
});
