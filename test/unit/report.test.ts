// report.ts: the exit status from the targets' states, and the report's
// lines for them (a fabricated PushReport; no push runs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { report, target } from './fixtures';
import { exitCode, formatReport } from '../../src/operator/report';
import { makeLogger, prettyLine } from '../../src/operator/log';

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

test('pacing: the time the master was stopped (suspended) is not counted as its sender waking late', () => {
  const base = report([target('a', 'OK')]);
  const r = { ...base, stats: { ...base.stats, lateNs: 8.3e9, idleNs: 0.25e9 } };
  assert.match(formatReport(r), /^pacing: line time unused 8\.30 s with pages queued .*, 0\.25 s with none queued$/m);
  assert.match(formatReport({ ...r, pausedSeconds: 8 }),
    /^pacing: line time unused 0\.30 s with pages queued .*, 0\.25 s with none queued; this process did not run for 8\.0 s \(stopped or suspended\)$/m);
});

test('exit status: 20 interrupted (over everything); 23 when the only shortfall is what the master could not read', () => {
  const unread = [{ path: 'secret', error: 'EACCES (opendir)' }];
  assert.equal(exitCode(report([target('a', 'OK')], { unreadable: unread })), 23);
  // a target's own shortfall outranks the source's
  assert.equal(exitCode(report([target('a', 'FAILED')], { unreadable: unread })), 2);
  assert.equal(exitCode(report([target('a', 'DROPPED')], { unreadable: unread })), 3);
  assert.equal(exitCode(report([target('a', 'OK'), target('b', 'INTERRUPTED', { error: 'interrupted by SIGINT' })], { interrupted: 'SIGINT' })), 20);
  assert.equal(exitCode(report([target('a', 'DROPPED')], { interrupted: 'SIGTERM', unreadable: unread })), 20);
  const text = formatReport(report([target('a', 'OK'), target('b', 'INTERRUPTED', { error: 'interrupted by SIGTERM' })],
    { interrupted: 'SIGTERM', unreadable: unread }));
  assert.match(text, /could not read .*: 1\n {2}secret: EACCES \(opendir\)/);
  assert.match(text, /^b +INTERRUPTED .*interrupted by SIGTERM/m);
  assert.match(text, /^interrupted by SIGTERM: 1 targets had not finished/m);
});

test('a big fleet\'s failures are grouped by cause with what to check; the report stays short; a small one keeps every row', () => {
  const targets = [];
  for (let i = 0; i < 400; i++) {
    const host = `h${i}`;
    if (i < 396) targets.push(target(host, 'UNREACHABLE', { errorCode: 'UNREACHABLE', filesSent: 0, error: `remote shell failed (exit 255): ssh: connect to host ${host} port 22: No route to host` }));
    else if (i < 398) targets.push(target(host, 'DROPPED', { errorCode: 'SILENT', error: 'silent for 60 s' }));
    else targets.push(target(host, 'OK'));
  }
  const text = formatReport(report(targets));
  const lines = text.split('\n');
  assert.ok(lines.length < 80, `${lines.length} lines for 400 targets`);
  assert.match(text, /^ {2}396 UNREACHABLE: remote shell failed \(exit 255\): ssh: connect to host HOST port 22: No route to host$/m);
  assert.match(text, /^ {6}check: the remote shell could not log in: .*ssh HOST true/m);
  assert.match(text, /^ {6}h0, h1, h2, h3, h4, h5, h6, h7 and 388 more$/m);
  assert.match(text, /^ {2}2 DROPPED \(SILENT\): silent for 60 s\n {6}check: datagrams do not get through: the firewall/m);
  assert.match(text, /machines dropped: 398: h0, h1, h2, h3, h4, h5, h6, h7 and 390 more \(by cause below\)$/m);
  assert.match(text, /^\(2 targets OK and 388 more not OK: rows in --status-file\)$/m);
  assert.match(text, /^2 of 400 targets OK$/m);
  // three targets: every row, and the cause with its hint
  const small = formatReport(report([target('a', 'OK'), target('b', 'UNREACHABLE', { errorCode: 'UNREACHABLE', error: 'remote shell failed (exit 127): sh: 1: multicatcher: not found' })]));
  assert.match(small, /^a +OK /m);
  assert.match(small, /^ {6}check: multicatcher was not found there: .*--remote-path/m);
});

test('-v 2: readable lines on a terminal (time, level, host, message, fields), JSON lines otherwise', () => {
  const lines: string[] = [];
  const tty = makeLogger(2, 'mrsync', undefined, { write: (s: string) => lines.push(s), isTTY: true });
  tty.debug('state active', { host: 't1', path: 'a b', files: 3 });
  tty.error('t2: silent for 3 s', { host: 't2' });
  assert.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} mrsync debug t1: state active path="a b" files=3\n$/);
  assert.match(lines[1], /^\d\d:\d\d:\d\d\.\d{3} mrsync error t2: silent for 3 s\n$/);
  assert.equal(prettyLine('rtt', 'info', 'x', {}, new Date(2026, 0, 1, 9, 5, 7, 42)), '09:05:07.042 rtt info  x\n');
  assert.ok(tty.debugging);
  // at -v 1 only errors and warnings, as one line each
  const plain: string[] = [];
  const v1 = makeLogger(1, 'mrsync', undefined, { write: (s: string) => plain.push(s), isTTY: true });
  v1.debug('state active', { host: 't1' });
  v1.warn('slow', { host: 't3' });
  assert.deepEqual(plain, ['mrsync: warning: t3: slow\n']);
});

test('the time per GB only once a push carries 10 MB or more: a few bytes in seconds is no speed', () => {
  assert.match(formatReport(report([target('a', 'OK')], { bytes: 10, seconds: 6 })), /^total time = 0\.10 min$/m);
  assert.match(formatReport(report([target('a', 'OK')], { bytes: 2e9, seconds: 60 })), /^total time = 1\.00 min, 0\.50 min\/GB$/m);
});
