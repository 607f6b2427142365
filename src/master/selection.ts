// What a push sends when it is not the whole of -s: the original's -l globs,
// rsync's --files-from (with parsyncfp's --trim), or a single file given as -s.
import fs from 'node:fs';
import path from 'node:path';
import { componentGlob } from '../wire/filter';
import { Selection } from '../wire/manifest';
import { display, pathProblem, under } from '../wire/paths';
import { UserError } from '../errors';

/** Normalize a listed path to a clean relative one: leading '/' and './', '//' and '.' components go. Null if it climbs out. */
function clean(p: Buffer): Buffer | null {
  const comps: string[] = [];
  for (const c of p.toString('latin1').split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') { if (!comps.length) return null; comps.pop(); continue; }
    comps.push(c);
  }
  return comps.length ? Buffer.from(comps.join('/'), 'latin1') : Buffer.from('.');
}

/** Every listed path must exist in src below real directories (no symlinked parents). */
function checkListed(src: Buffer, rel: Buffer, where: string): void {
  const comps = rel.toString('latin1').split('/');
  for (let i = 1; i <= comps.length; i++) {
    const sub = Buffer.from(comps.slice(0, i).join('/'), 'latin1');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(under(src, sub));
    } catch {
      throw new UserError(`${where}: ${display(rel)}: no such file or directory in -s`);
    }
    if (i < comps.length && !st.isDirectory()) throw new UserError(`${where}: ${display(rel)}: ${display(sub)} is not a directory in -s`);
  }
}

/**
 * --files-from FILE: one path per line, relative to -s (rsync's rule), or
 * absolute under -s; --trim PREFIX is removed from the front of every line
 * first. Listed directories are sent without their contents, as rsync does.
 */
export function filesFrom(file: string, src: Buffer, trim: string | undefined): Selection {
  let text: Buffer;
  try {
    text = file === '-' ? fs.readFileSync(0) : fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`--files-from ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const prefix = trim === undefined ? null : Buffer.from(trim);
  const srcSlash = Buffer.concat([src, Buffer.from('/')]);
  const seen = new Set<string>();
  const paths: Buffer[] = [];
  let n = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf(0x0a, start);
    if (end < 0) end = text.length;
    let line = text.subarray(start, end);
    start = end + 1;
    n++;
    if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    if (line.length === 0 || line[0] === 0x23) continue; // blank, # comment
    const where = `--files-from ${file} line ${n}`;
    if (prefix) {
      if (!line.subarray(0, prefix.length).equals(prefix)) throw new UserError(`${where}: ${display(line)} does not start with --trim ${trim}`);
      line = line.subarray(prefix.length);
    } else if (line[0] === 0x2f) {
      if (!line.subarray(0, srcSlash.length).equals(srcSlash)) throw new UserError(`${where}: ${display(line)} is outside -s ${display(src)}`);
      line = line.subarray(srcSlash.length);
    }
    const rel = clean(line);
    if (!rel) throw new UserError(`${where}: ${display(line)} is outside -s ${display(src)}`);
    if (rel.length === 1 && rel[0] === 0x2e) continue;
    const why = pathProblem(rel);
    if (why) throw new UserError(`${where}: ${display(line)}: ${why}`);
    const key = rel.toString('latin1');
    if (seen.has(key)) continue;
    seen.add(key);
    checkListed(src, rel, where);
    paths.push(rel);
  }
  if (!paths.length) throw new UserError(`--files-from ${file} lists no files`);
  return { paths, recursive: false };
}

/**
 * -l a,b/c*,d/[0-9]*.ext: the original's comma list of ls-style globs,
 * relative to -s; '*' does not cross '/' nor match a leading dot. Matched
 * directories are sent whole.
 */
export function globList(v: string, src: Buffer): Selection {
  const paths: Buffer[] = [];
  const seen = new Set<string>();
  for (const raw of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const pat = raw.replace(/^\/+/, '');
    const comps = pat.split('/').filter((c) => c !== '' && c !== '.');
    if (!comps.length || comps.includes('..')) throw new UserError(`-l ${raw}: not a pattern under -s`);
    const matchers = comps.map((c) => ({ re: componentGlob(c), dot: c.startsWith('.') }));
    let found = 0;
    const walk = (rel: Buffer | null, depth: number): void => {
      let names: Buffer[];
      try {
        names = fs.readdirSync(rel ? under(src, rel) : src, { encoding: 'buffer' }).sort(Buffer.compare);
      } catch {
        return;
      }
      const m = matchers[depth];
      for (const name of names) {
        if (name[0] === 0x2e && !m.dot) continue;
        if (!m.re.test(name.toString('latin1'))) continue;
        const r = rel ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
        if (depth + 1 === matchers.length) {
          found++;
          const key = r.toString('latin1');
          if (!seen.has(key)) { seen.add(key); paths.push(r); }
        } else if (fs.lstatSync(under(src, r)).isDirectory()) {
          walk(r, depth + 1);
        }
      }
    };
    walk(null, 0);
    if (!found) throw new UserError(`-l ${raw} matches nothing under -s ${display(src)}`);
  }
  if (!paths.length) throw new UserError('-l names no patterns');
  return { paths, recursive: true };
}

/** -s naming one file: send that file into the directory that holds it (or -t). */
export function singleFile(file: string): { src: Buffer; select: Selection } {
  return { src: Buffer.from(path.dirname(file)), select: { paths: [Buffer.from(path.basename(file))], recursive: false } };
}
