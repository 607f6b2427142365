// Property-based tests of the planner: random entries against random target
// states (decide, itemCode), and random source and target trees on disk
// through scan + the mirror's deletion pass, with random filters.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { Beneath } from '../../src/catcher/beneath';
import { Filter, RuleSpec } from '../../src/wire/filter';
import { Entry, Kind } from '../../src/wire/manifest';
import { scan } from '../../src/master/scan';
import { Mirror } from '../../src/catcher/mirror';
import { Have, decide, itemCode } from '../../src/catcher/plan';

const RUNS = Number(process.env.PROP_RUNS ?? 300);

const entryArb: fc.Arbitrary<Entry> = fc.record({
  path: fc.constant(Buffer.from('x')),
  kind: fc.constantFrom(Kind.File, Kind.Dir, Kind.Symlink, Kind.Hardlink),
  size: fc.constantFrom(0, 1, 10),
  mode: fc.constantFrom(0o644, 0o600, 0o755),
  uid: fc.constantFrom(0, 1),
  gid: fc.constantFrom(0, 1),
  mtimeNs: fc.constantFrom(100n, 200n),
  link: fc.constantFrom(Buffer.from('a'), Buffer.from('b')),
}).map((e) => ({ ...e, size: e.kind === Kind.File ? e.size : 0, link: e.kind === Kind.Symlink ? e.link : undefined, leader: e.kind === Kind.Hardlink ? 0 : undefined }));

const haveArb: fc.Arbitrary<Have | null> = fc.option(fc.record({
  kind: fc.constantFrom<Have['kind']>('file', 'dir', 'symlink', 'other'),
  size: fc.constantFrom(0, 1, 10),
  mode: fc.constantFrom(0o644, 0o600, 0o755),
  uid: fc.constantFrom(0, 1),
  gid: fc.constantFrom(0, 1),
  mtimeNs: fc.constantFrom(100n, 200n),
  ino: fc.constant(1n),
  dev: fc.constant(1n),
  link: fc.constantFrom(Buffer.from('a'), Buffer.from('b')),
}), { nil: null });

/** The target entry after a decision is carried out (the model of what the catcher does). */
function after(e: Entry, h: Have | null, d: ReturnType<typeof decide>, owner: boolean): Partial<Have> | 'conflict' {
  switch (d.do) {
    case 'conflict': return 'conflict';
    case 'keep': return h!;
    case 'link': return { kind: 'file' };
    case 'meta': // in place: what is there keeps its kind, size (content) and link target; mode, owner, mtime are set
      return { kind: h!.kind, size: h!.size, link: h!.link, mode: e.kind === Kind.Symlink ? h!.mode : e.mode,
        uid: owner ? e.uid : h!.uid, gid: owner ? e.gid : h!.gid, mtimeNs: e.mtimeNs };
    default: { // made afresh from the source (and, for data, its content from the master)
      const kind = e.kind === Kind.Dir ? 'dir' : e.kind === Kind.Symlink ? 'symlink' : 'file';
      return { kind, size: e.size, mode: e.kind === Kind.Symlink ? h?.mode : e.mode, uid: owner ? e.uid : h?.uid, gid: owner ? e.gid : h?.gid,
        mtimeNs: e.mtimeNs, link: e.link };
    }
  }
}

const kindOf = (e: Entry): Have['kind'] => (e.kind === Kind.Dir ? 'dir' : e.kind === Kind.Symlink ? 'symlink' : 'file');

test('decide: carrying out any decision leaves the entry as the source has it, or is a conflict with a directory', () => {
  fc.assert(fc.property(entryArb, haveArb, fc.boolean(), fc.option(fc.boolean(), { nil: undefined }), (e, h, owner, sameContent) => {
    const same = e.kind === Kind.File && h?.kind === 'file' && h.size === e.size ? sameContent : undefined;
    const d = decide(e, h, { owner, sameContent: same });
    const r = after(e, h, d, owner);
    if (r === 'conflict') {
      assert.equal(h?.kind, 'dir', 'only a directory in the way is a conflict');
      assert.notEqual(e.kind, Kind.Dir);
      return;
    }
    if (e.kind !== Kind.Hardlink) {
      // what the target has afterwards is what the source has
      assert.equal(r.kind, kindOf(e), `${d.do}: kind`);
      if (e.kind === Kind.File) assert.equal(r.size, e.size, `${d.do}: size`);
      if (e.kind === Kind.Symlink) assert.ok(r.link?.equals(e.link!), `${d.do}: link target`);
      else assert.equal(r.mode, e.mode, `${d.do}: mode`);
      if (owner) assert.deepEqual([r.uid, r.gid], [e.uid, e.gid], `${d.do}: owner`);
      if (e.kind !== Kind.Dir) assert.equal(r.mtimeNs, e.mtimeNs, `${d.do}: mtime`); // a directory's is set after its contents
      // content: kept or fixed in place only where it is the source's (same size and mtime, or -c said so)
      if (e.kind === Kind.File && (d.do === 'keep' || d.do === 'meta')) assert.ok(same ?? h!.mtimeNs === e.mtimeNs, `${d.do} of other content`);
    }
    if (d.do === 'keep') {
      assert.ok(h, 'keep needs something there');
      if (e.kind === Kind.File) {
        assert.equal(h.kind, 'file');
        assert.equal(h.size, e.size);
        assert.equal(h.mode, e.mode);
        if (same === undefined) assert.equal(h.mtimeNs, e.mtimeNs); else assert.ok(same);
        if (owner) assert.deepEqual([h.uid, h.gid], [e.uid, e.gid]);
      }
      if (e.kind === Kind.Symlink) assert.ok(h.kind === 'symlink' && h.link!.equals(e.link!) && h.mtimeNs === e.mtimeNs);
      if (e.kind === Kind.Dir) assert.equal(h.kind, 'dir');
    }
    if (d.do === 'data') {
      assert.equal(e.kind, Kind.File);
      assert.ok(e.size > 0, 'an empty file is never sent');
      assert.ok(!h || h.kind !== 'file' || h.size !== e.size || (same === undefined ? h.mtimeNs !== e.mtimeNs : !same)
        || (owner && (h.uid !== e.uid || h.gid !== e.gid)), 'data only when the content may differ, or its owner would change');
    }
    if (d.do === 'meta' && e.kind === Kind.File && owner) {
      // a file is never chown'ed to another owner in place: its content would be the old owner's choice (an empty one is made afresh)
      assert.ok(h && h.uid === e.uid && h.gid === e.gid, 'meta on a file whose owner changes');
    }
    if (d.do === 'meta') assert.ok(h && h.kind === (e.kind === Kind.Dir ? 'dir' : e.kind === Kind.Symlink ? 'symlink' : 'file'), 'metadata only on the same kind');
    if (e.kind === Kind.Dir) assert.ok(d.do === 'keep' || d.do === 'meta' || d.do === 'mkdir');
    if (e.kind === Kind.Hardlink) assert.equal(d.do, 'link');
  }), { numRuns: RUNS * 10 });
});

test('itemCode: nothing is itemized exactly when nothing changes', () => {
  fc.assert(fc.property(entryArb, haveArb, fc.boolean(), (e, h, owner) => {
    if (e.kind === Kind.Hardlink) return;
    const d = decide(e, h, { owner });
    if (d.do === 'conflict') return;
    const code = itemCode(e, h, d, { owner });
    const timesDiffer = h !== null && h.mtimeNs !== e.mtimeNs;
    if (d.do === 'keep' && !(e.kind === Kind.Dir && timesDiffer)) assert.equal(code, null);
    else assert.ok(code && code.length === 11, `${d.do} itemized as ${code}`);
    if (code && (!h || (e.kind === Kind.Dir) !== (h.kind === 'dir'))) assert.match(code, /\+{9}$/);
  }), { numRuns: RUNS * 10 });
});

// ---- trees on disk: scan (with filters) + the mirror's --delete pass ----

const names = ['a', 'b', 'c', 'x.log', 'd.o'];
interface Node { [name: string]: Node | string }
const treeArb: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.dictionary(fc.constantFrom(...names), fc.oneof({ maxDepth: 3, depthSize: 'small' },
    fc.constantFrom('1', '22'), tie('node')), { maxKeys: 4 }),
})).node;

function make(dir: string, t: Node): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [n, v] of Object.entries(t)) {
    if (typeof v === 'string') fs.writeFileSync(path.join(dir, n), v);
    else make(path.join(dir, n), v);
  }
}

function listAll(dir: string, rel = ''): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const n of fs.readdirSync(dir)) {
    const r = rel ? `${rel}/${n}` : n;
    const isDir = fs.lstatSync(path.join(dir, n)).isDirectory();
    out.set(r, isDir);
    if (isDir) for (const [k, v] of listAll(path.join(dir, n), r)) out.set(k, v);
  }
  return out;
}

const ruleArb: fc.Arbitrary<RuleSpec[]> = fc.array(fc.record({
  include: fc.boolean(),
  pattern: fc.constantFrom('*.log', 'a', '/b', 'c/', '*.o', 'a/**', 'b/*'),
}), { maxLength: 3 });

test('--delete: afterwards every target entry is in the source or protected by a filter, and nothing protected is gone', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-prop-'));
  try {
    let run = 0;
    fc.assert(fc.property(treeArb, treeArb, ruleArb, (src, dst, rules) => {
      const s = path.join(tmp, `s${run}`);
      const t = path.join(tmp, `t${run}`);
      run++;
      make(s, src);
      make(t, dst);
      const filter = Filter.of(rules);
      const before = listAll(t);
      const { manifest: entries } = scan(Buffer.from(s), { filter });
      const all = entries.toArray();
      const inSource = new Set(all.slice(1).map((e) => e.path.toString()));
      const sourceFiles = new Set(all.filter((e) => e.kind !== Kind.Dir).map((e) => e.path.toString()));
      const tree = Beneath.open(Buffer.from(t));
      const mirror = new Mirror(tree, { delete: true, backup: null, filters: rules, checksum: false, dryRun: false },
        false, { item: () => {}, warn: () => {} });
      try {
        mirror.deleteExtraneous(entries, () => false);
      } finally {
        tree.close();
      }
      const left = listAll(t);
      // an entry is protected if it or a directory above it is excluded
      const protectedPath = (p: string): boolean => {
        const comps = p.split('/');
        for (let i = 1; i <= comps.length; i++) {
          const sub = comps.slice(0, i).join('/');
          if (filter.excluded(Buffer.from(sub), before.get(sub) ?? false)) return true;
        }
        return false;
      };
      for (const [p] of left) {
        // a kept directory may hold protected entries
        const holdsProtected = [...left.keys()].some((q) => q.startsWith(`${p}/`) && protectedPath(q));
        // under a name the source has as a file, the transfer (not this pass) replaces the directory
        const comps = p.split('/');
        const replaced = comps.some((_, i) => i < comps.length - 1 && sourceFiles.has(comps.slice(0, i + 1).join('/')));
        assert.ok(inSource.has(p) || protectedPath(p) || holdsProtected || replaced, `${p} left on the target`);
      }
      for (const [p] of before) if (protectedPath(p)) assert.ok(left.has(p), `protected ${p} was deleted`);
      for (const p of inSource) if (before.has(p) && before.get(p) === fs.lstatSync(path.join(s, p)).isDirectory()) assert.ok(left.has(p), `${p} (in the source) was deleted`);
      fs.rmSync(s, { recursive: true });
      fs.rmSync(t, { recursive: true });
    }), { numRuns: RUNS });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('scan with filters: nothing excluded is listed, nothing under an excluded directory, everything else is', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-prop-'));
  try {
    let run = 0;
    fc.assert(fc.property(treeArb, ruleArb, (src, rules) => {
      const s = path.join(tmp, `s${run++}`);
      make(s, src);
      const filter = Filter.of(rules);
      const listed = new Set(scan(Buffer.from(s), { filter }).manifest.toArray().slice(1).map((e) => e.path.toString()));
      for (const [p, isDir] of listAll(s)) {
        const comps = p.split('/');
        let hidden = false;
        for (let i = 1; i <= comps.length && !hidden; i++) {
          const sub = comps.slice(0, i).join('/');
          hidden = filter.excluded(Buffer.from(sub), i < comps.length || isDir);
        }
        assert.equal(listed.has(p), !hidden, p);
      }
      fs.rmSync(s, { recursive: true });
    }), { numRuns: RUNS });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
