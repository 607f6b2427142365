import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Filter, RuleSpec, rulesFromText } from '../../src/wire/filter';

const ex = (...p: string[]): RuleSpec[] => p.map((pattern) => ({ include: false, pattern }));
const inc = (pattern: string): RuleSpec => ({ include: true, pattern });
const is = (f: Filter, path: string, dir = false): boolean => f.excluded(Buffer.from(path), dir);

test('a pattern without a slash matches the last component at any depth', () => {
  const f = Filter.of(ex('*.o'));
  assert.ok(is(f, 'a.o'));
  assert.ok(is(f, 'x/y/a.o'));
  assert.ok(!is(f, 'a.o.c'));
  assert.ok(!is(f, 'a.o/b'));         // the directory a.o itself would be excluded (and pruned), not its child by this rule
  assert.ok(is(f, 'a.o', true));
});

test('anchored, slashed and ** patterns', () => {
  const f = Filter.of(ex('/top.txt'));
  assert.ok(is(f, 'top.txt'));
  assert.ok(!is(f, 'sub/top.txt'));
  const g = Filter.of(ex('b/c'));
  assert.ok(is(g, 'b/c'));
  assert.ok(is(g, 'a/b/c'));
  assert.ok(!is(g, 'ab/c'));
  const h = Filter.of(ex('a/*/z'));
  assert.ok(is(h, 'a/x/z'));
  assert.ok(!is(h, 'a/x/y/z'));
  const k = Filter.of(ex('a/**/z'));
  assert.ok(is(k, 'a/x/y/z'));
  assert.ok(is(k, 'q/a/x/z'));
  const d = Filter.of(ex('cache/***'));
  assert.ok(is(d, 'cache', true));
  assert.ok(is(d, 'cache/x/y'));
  assert.ok(!is(d, 'cachex'));
});

test('? and classes never match a slash; negation, ranges and escapes', () => {
  const f = Filter.of(ex('f?', 'g[0-9]', 'h[!a-c]', 'lit\\*'));
  assert.ok(is(f, 'f1'));
  assert.ok(!is(f, 'f12'));
  assert.ok(is(f, 'g7'));
  assert.ok(!is(f, 'gx'));
  assert.ok(is(f, 'hd'));
  assert.ok(!is(f, 'hb'));
  assert.ok(is(f, 'lit*'));
  assert.ok(!is(f, 'litx'));
  assert.ok(!is(Filter.of(ex('a?b')), 'a/b'));
  assert.ok(!is(Filter.of(ex('a[!x]b')), 'a/b'));
});

test('directory-only patterns; regexp characters are literal', () => {
  const f = Filter.of(ex('build/'));
  assert.ok(is(f, 'build', true));
  assert.ok(!is(f, 'build', false));
  const g = Filter.of(ex('a+b(c).d$'));
  assert.ok(is(g, 'a+b(c).d$'));
  assert.ok(!is(g, 'aab(c)xd$'));
});

test('the first matching rule wins; the root is never excluded', () => {
  const f = Filter.of([inc('*/'), inc('*.c'), ...ex('*')]);
  assert.ok(!is(f, 'src', true));
  assert.ok(!is(f, 'src/main.c'));
  assert.ok(is(f, 'src/main.h'));
  assert.ok(!is(f, '.', true));
  const g = Filter.of([...ex('keep.log'), inc('keep.log')]);
  assert.ok(is(g, 'keep.log'));
});

test('bytes that are not UTF-8 match byte for byte', () => {
  const f = Filter.of(ex('caf?'));
  assert.ok(f.excluded(Buffer.from([0x63, 0x61, 0x66, 0xe9]), false));
  const g = Filter.of(ex('café'));
  assert.ok(g.excluded(Buffer.from('café'), false));
  assert.ok(!g.excluded(Buffer.from([0x63, 0x61, 0x66, 0xe9]), false));
});

test('patterns that cannot parse are refused with the pattern', () => {
  assert.throws(() => Filter.of(ex('[abc')), /pattern '\[abc' cannot parse: '\[' without a closing '\]'/);
  assert.throws(() => Filter.of(ex('abc\\')), /lone backslash/);
  assert.throws(() => Filter.of(ex('')), /empty/);
  assert.throws(() => Filter.of(ex('/')), /names nothing/);
});

test('exclude-from files: comments, blank lines, +/- prefixes', () => {
  assert.deepEqual(rulesFromText('# c\n; c\n\n*.o\n+ keep.o\n- x/\r\n'), [
    { include: false, pattern: '*.o' }, { include: true, pattern: 'keep.o' }, { include: false, pattern: 'x/' },
  ]);
});
