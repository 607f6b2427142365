// operator/status.ts: the status file's document from a report; its shape
// only grows (fields are only ever added).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { statusDoc, writeStatusFile } from '../../src/operator/status';
import { report, target } from './fixtures';

test('the status document: totals, each target with its state, failure codes and files; written whole', () => {
  const r = report([
    target('a', 'OK'),
    target('b', 'FAILED', { failures: [{ path: 'app.conf', error: 'write failed: ENOSPC', code: 'WRITE_FAILED' }] }),
    target('c', 'DROPPED', { error: 'silent for 3 s', errorCode: 'SILENT' }),
  ], { changed: ['moving'] });
  const d = statusDoc(r, 3, '/src', '/dst');
  assert.equal(d.version, 1);
  assert.deepEqual([d.exitCode, d.source, d.target], [3, '/src', '/dst']);
  assert.deepEqual([d.totals.targets, d.totals.ok, d.totals.failed, d.totals.dropped, d.totals.unreachable], [3, 1, 1, 1, 0]);
  assert.deepEqual(d.targets.map((t) => [t.host, t.state, t.errorCode]), [['a', 'OK', null], ['b', 'FAILED', null], ['c', 'DROPPED', 'SILENT']]);
  assert.deepEqual(d.targets[1].failedFiles, [{ path: 'app.conf', error: 'write failed: ENOSPC', code: 'WRITE_FAILED' }]);
  assert.deepEqual(d.changedDuringSend, ['moving']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-status-'));
  try {
    const f = path.join(dir, 'status.json');
    writeStatusFile(f, d);
    assert.deepEqual(JSON.parse(fs.readFileSync(f, 'utf8')), JSON.parse(JSON.stringify(d)));
    assert.deepEqual(fs.readdirSync(dir), ['status.json'], 'no temp file left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
