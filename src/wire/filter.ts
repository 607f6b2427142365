import { UserError } from '../errors';
// --exclude / --include / --exclude-from with rsync's rules for the common
// cases: the first matching rule decides; no match means included.
//   *      any run of bytes but '/'        **    any run of bytes, '/' too
//   ?      one byte but '/'                [..]  a class ([!..] / [^..] negate, a-z ranges)
//   \x     x itself                        /x    anchored at the transfer root
//   x/     matches directories only        dir/***  the directory and everything in it
// A pattern without '/' (a trailing one aside) matches the last component; one
// with '/' or '**' matches the end of the path at a component boundary, or
// the whole path when anchored. Matching is on bytes (latin1), like rsync's.
// An excluded directory is not descended into: on the master nothing under it
// is sent, and on a target nothing under it is deleted.

export interface RuleSpec { include: boolean; pattern: string }

interface Rule extends RuleSpec { re: RegExp; dirOnly: boolean }

function globToRegex(p: string, shown: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      if (i + 1 >= p.length) throw new UserError(`pattern '${shown}' cannot parse: it ends in a lone backslash`);
      out += escapeRe(p[++i]);
    } else if (c === '*') {
      if (p.startsWith('***', i) && i + 3 === p.length && (i === 0 || p[i - 1] === '/')) {
        // "dir/***": dir itself and everything in it
        out = out.endsWith('/') ? `${out.slice(0, -1)}(?:/.*)?` : '.*';
        i += 2;
      } else if (p[i + 1] === '*') {
        out += '.*';
        i++;
        while (p[i + 1] === '*') i++;
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (p[j] === '!' || p[j] === '^') { cls += '^'; j++; }
      if (p[j] === ']') { cls += '\\]'; j++; }
      while (j < p.length && p[j] !== ']') {
        const d = p[j];
        if (d === '\\' && j + 1 < p.length) { cls += escapeRe(p[j + 1]); j += 2; continue; }
        cls += d === '-' ? '-' : escapeRe(d);
        j++;
      }
      if (j >= p.length) throw new UserError(`pattern '${shown}' cannot parse: '[' without a closing ']'`);
      if (cls === '' || cls === '^') throw new UserError(`pattern '${shown}' cannot parse: empty character class`);
      // a class never matches '/'
      out += cls.startsWith('^') ? `[${cls}/]` : `(?!/)[${cls}]`;
      i = j;
    } else {
      out += escapeRe(c);
    }
  }
  return out;
}

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|-]/.test(c) ? `\\${c}` : c;
}

function compile(spec: RuleSpec): Rule {
  const shown = spec.pattern;
  if (shown === '') throw new UserError('an empty --exclude/--include pattern');
  // the pattern's bytes, matched against the path's bytes
  let p = Buffer.from(spec.pattern, 'utf8').toString('latin1');
  let dirOnly = false;
  if (p.length > 1 && p.endsWith('/')) { dirOnly = true; p = p.replace(/\/+$/, ''); }
  const anchored = p.startsWith('/');
  if (anchored) p = p.replace(/^\/+/, '');
  if (p === '') throw new UserError(`pattern '${shown}' cannot parse: it names nothing`);
  const body = globToRegex(p, shown);
  const re = new RegExp(anchored ? `^(?:${body})$` : `(?:^|/)(?:${body})$`, 's');
  return { ...spec, re, dirOnly };
}

export class Filter {
  private constructor(private readonly rules: Rule[]) {}

  static of(specs: RuleSpec[]): Filter {
    return new Filter(specs.map(compile));
  }

  get specs(): RuleSpec[] { return this.rules.map(({ include, pattern }) => ({ include, pattern })); }

  get empty(): boolean { return this.rules.length === 0; }

  /** Is rel (bytes, relative to the root, no trailing slash) excluded? The root itself never is. */
  excluded(rel: Buffer, isDir: boolean): boolean {
    if (this.rules.length === 0 || (rel.length === 1 && rel[0] === 0x2e)) return false;
    const s = rel.toString('latin1');
    for (const r of this.rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(s)) return !r.include;
    }
    return false;
  }
}

/** One path component's glob (as `ls` and the shell take it) as an anchored RegExp over latin1 bytes. */
export function componentGlob(pattern: string): RegExp {
  const p = Buffer.from(pattern, 'utf8').toString('latin1');
  return new RegExp(`^(?:${globToRegex(p, pattern)})$`, 's');
}

/**
 * Lines of an --exclude-from file: blank lines and lines starting with '#'
 * or ';' are skipped; "- PAT" and "+ PAT" are exclude and include rules;
 * anything else is an exclude pattern.
 */
export function rulesFromText(text: string): RuleSpec[] {
  const out: RuleSpec[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('+ ')) out.push({ include: true, pattern: line.slice(2) });
    else if (line.startsWith('- ')) out.push({ include: false, pattern: line.slice(2) });
    else out.push({ include: false, pattern: line });
  }
  return out;
}
