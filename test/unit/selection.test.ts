// master/selection.ts: --files-from (with --trim), the original's -l globs,
// and a single file as -s, each turned into clean paths under -s or refused
// with one line.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { UserError } from '../../src/errors';
import { filesFrom, globList, singleFile } from '../../src/master/selection';

const src = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-sel-'));
process.on('exit', () => fs.rmSync(src, { recursive: true, force: true }));
for (const f of ['a.c', 'b.c', 'x.h', 'subs/foo1', 'subs/foo2', 'subs/bar', '.hidden.c', 'sub2/path/12.ext', 'sub2/path/1a.ext']) {
  fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
  fs.writeFileSync(path.join(src, f), f);
}
fs.symlinkSync('/etc', path.join(src, 'etclink'));
const S = Buffer.from(src);
const list = (text: string): string => { const f = path.join(src, '..', `list-${process.pid}-${Math.random()}`); fs.writeFileSync(f, text); return f; };
const names = (b: Buffer[]): string[] => b.map((x) => x.toString()).sort();

test('--files-from: relative or absolute under -s, cleaned, deduplicated, comments and CRs ignored; --trim strips a prefix', () => {
  const sel = filesFrom(list(`# comment\na.c\n./subs//foo1\r\n${src}/x.h\n\na.c\nsubs/../b.c\n`), S, undefined);
  assert.deepEqual(names(sel.paths), ['a.c', 'b.c', 'subs/foo1', 'x.h']);
  assert.equal(sel.recursive, false);
  assert.deepEqual(names(filesFrom(list('/data/project/a.c\n/data/project/subs/bar\n'), S, '/data/project/').paths), ['a.c', 'subs/bar']);
});

test('--files-from refuses, with the line, what is outside -s, missing, under a file, or empty', () => {
  const bad = (text: string, re: RegExp, trim?: string): void => assert.throws(() => filesFrom(list(text), S, trim), (e: Error) => e instanceof UserError && re.test(e.message), text);
  bad('../x\n', /line 1: \.\.\/x is outside -s/);
  bad('/etc/passwd\n', /line 1: \/etc\/passwd is outside -s/);
  bad('a.c\nnope\n', /line 2: nope: no such file or directory in -s/);
  bad('a.c/x\n', /a\.c is not a directory in -s/);
  bad('# nothing\n', /lists no files/);
  bad('/other/a.c\n', /does not start with --trim \/data/, '/data');
  assert.throws(() => filesFrom('/nonexistent/list', S, undefined), /--files-from \/nonexistent\/list: ENOENT/);
});

test('-l: the original\'s comma list of ls globs; * does not cross / nor match a leading dot; matched directories whole', () => {
  const sel = globList('*.c, subs/foo*, sub2/path/[0-9][0-9].ext', S);
  assert.deepEqual(names(sel.paths), ['a.c', 'b.c', 'sub2/path/12.ext', 'subs/foo1', 'subs/foo2']);
  assert.equal(sel.recursive, true);
  assert.deepEqual(names(globList('subs', S).paths), ['subs']);
  assert.throws(() => globList('*.zzz', S), /-l \*\.zzz matches nothing under -s/);
  assert.throws(() => globList('../x', S), /-l \.\.\/x: not a pattern under -s/);
  assert.throws(() => globList('etclink/*', S), /matches nothing under -s/, 'a symlink is not walked into');
});

test('a file as -s: its directory is the source, the file its one entry', () => {
  const one = singleFile(path.join(src, 'subs', 'bar'));
  assert.equal(one.src.toString(), path.join(src, 'subs'));
  assert.deepEqual(names(one.select.paths), ['bar']);
});
