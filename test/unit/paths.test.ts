import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseOf, display, parentOf, pathProblem, under } from '../../src/wire/paths';

test('clean relative names pass, everything else is named', () => {
  const ok = ['.', 'a', 'a/b', '-x', 'name with spaces', 'a/.hidden', 'a/..b', '...'];
  for (const p of ok) assert.equal(pathProblem(Buffer.from(p)), null, p);
  const bad: Array<[string | Buffer, string]> = [
    ['', 'empty name'], ['/abs', 'absolute name'], ['..', "'..' component"], ['a/../b', "'..' component"],
    ['a/..', "'..' component"], ['./a', "'.' component"], ['a/./b', "'.' component"], ['a//b', 'empty path component'],
    ['a/', 'empty path component'], [Buffer.from('a\0b'), 'NUL in name'], ['x'.repeat(256), 'path component too long'],
    [('x/').repeat(2100), 'name too long'],
  ];
  for (const [p, why] of bad) assert.equal(pathProblem(Buffer.isBuffer(p) ? p : Buffer.from(p)), why, String(p).slice(0, 20));
  // PATH_MAX less its NUL: the longest a target's kernel opens beneath its root
  assert.equal(pathProblem(Buffer.from(`${'a/'.repeat(2047)}a`)), null, '4095 bytes');
  assert.equal(pathProblem(Buffer.from(`${'a/'.repeat(2047)}ab`)), 'name too long', '4096 bytes');
});

test('joining and splitting byte names', () => {
  assert.equal(under(Buffer.from('/r'), Buffer.from('a/b')).toString(), '/r/a/b');
  assert.equal(under(Buffer.from('/r/'), Buffer.from('a')).toString(), '/r/a');
  assert.equal(under(Buffer.from('/r'), Buffer.from('.')).toString(), '/r');
  assert.equal(parentOf(Buffer.from('a/b/c')).toString(), 'a/b');
  assert.equal(parentOf(Buffer.from('c')).toString(), '.');
  assert.equal(baseOf(Buffer.from('a/b/c')).toString(), 'c');
});

test('display escapes control and non-UTF-8 bytes like rsync', () => {
  assert.equal(display(Buffer.from('plain/café')), 'plain/café');
  assert.equal(display(Buffer.from([0x66, 0xe9])), 'f\\#351');
  assert.equal(display(Buffer.from('a\nb')), 'a\\#012b');
});
