// The manifest: every entry of the source tree with its metadata (scanned on
// the master by master/scan.ts), multicast in segments to all targets: its
// wire format, and reading it back (never trusting it).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { display, pathProblem } from './paths';
import { ManifestError } from '../errors';

export const enum Kind { File = 0, Dir = 1, Symlink = 2, Hardlink = 3 }

/** Per-entry flags on the wire. */
export const enum Flag {
  Whole = 1,   // a directory whose every entry is in the manifest: --delete may act inside it
  Hash = 2,    // a file whose SHA-256 follows (-c)
  Implied = 4, // the root when only a list is sent: made if missing, its metadata left alone
}
const FLAGS_KNOWN = 7;

export interface Entry {
  path: Buffer;   // relative to the root, "." for the root itself
  kind: Kind;
  size: number;   // bytes (files); 0 otherwise
  mode: number;   // permission bits incl. setuid/setgid/sticky
  uid: number;
  gid: number;
  mtimeNs: bigint;
  link?: Buffer;    // symlink target, as stored
  leader?: number;  // hardlink: index of the entry that holds the content
  flags?: number;   // Flag bits; absent = 0
  hash?: Buffer;    // SHA-256 of a file's content (with -c)
}

/** Only these paths (clean, relative) and the directories above them; recursive: listed directories whole. */
export interface Selection { paths: Buffer[]; recursive: boolean }

/** Object id on the wire of entry i (object 0 is the manifest). */
export const objectOf = (i: number): number => i + 1;
export const entryOf = (object: number): number => object - 1;

export function hashFileSync(p: Buffer | number): Buffer {
  const fd = typeof p === 'number' ? p : fs.openSync(p, 'r');
  try {
    const h = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    return h.digest();
  } finally {
    if (typeof p !== 'number') fs.closeSync(fd);
  }
}

const MAGIC = 0x4d52534d; // "MRSM"
const VERSION = 3;
const HEAD = 13; // magic u32, version u8, first entry u32, count u32
/** Object ids of manifest segments on the wire: SEG_BASE + k. */
export const SEG_BASE = 0xf0000000;
export const isSegment = (object: number): boolean => object >= SEG_BASE;
/** Object ids of packs of small files (pack.ts): PACK_BASE + k; the entries' are 1 .. PACK_BASE - 1. */
export const PACK_BASE = 0xe0000000;
export const MAX_ENTRIES = PACK_BASE - 2;
const FIXED = 1 + 1 + 4 + 4 + 4 + 8 + 8 + 2;
const HASH_LEN = 32;

/**
 * Entries appended one at a time into one growing buffer in the wire format:
 * a scan of a million entries holds its manifest bytes and nothing per entry.
 */
export class ManifestWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  private used = HEAD;
  length = 0;     // entries in this segment
  first = 0;      // index of its first entry in the whole manifest

  push(e: Entry): void {
    const flags = e.flags ?? 0;
    const extra = (e.kind === Kind.Symlink ? 2 + (e.link?.length ?? 0) : e.kind === Kind.Hardlink ? 4 : 0) + (flags & Flag.Hash ? HASH_LEN : 0);
    const need = FIXED + e.path.length + extra;
    if (this.used + need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + need));
      this.buf.copy(bigger, 0, 0, this.used);
      this.buf = bigger;
    }
    const b = this.buf;
    let o = this.used;
    o = b.writeUInt8(e.kind, o);
    o = b.writeUInt8(flags, o);
    o = b.writeUInt32BE(e.mode, o);
    o = b.writeUInt32BE(e.uid, o);
    o = b.writeUInt32BE(e.gid, o);
    o = b.writeBigUInt64BE(BigInt(e.size), o);
    o = b.writeBigInt64BE(e.mtimeNs, o);
    o = b.writeUInt16BE(e.path.length, o);
    o += e.path.copy(b, o);
    if (e.kind === Kind.Symlink) {
      const l = e.link ?? Buffer.alloc(0);
      o = b.writeUInt16BE(l.length, o);
      o += l.copy(b, o);
    } else if (e.kind === Kind.Hardlink) {
      o = b.writeUInt32BE(e.leader ?? 0, o);
    }
    if (flags & Flag.Hash) o += (e.hash ?? Buffer.alloc(HASH_LEN)).copy(b, o, 0, HASH_LEN);
    this.used = o;
    this.length++;
  }

  /** The segment's bytes (a copy of exactly the used part); the writer goes on with the next segment. */
  finish(): Buffer {
    this.buf.writeUInt32BE(MAGIC, 0);
    this.buf.writeUInt8(VERSION, 4);
    this.buf.writeUInt32BE(this.first, 5);
    this.buf.writeUInt32BE(this.length, 9);
    const out = Buffer.from(this.buf.subarray(0, this.used));
    this.first += this.length;
    this.length = 0;
    this.used = HEAD;
    if (this.buf.length > 1 << 20) this.buf = Buffer.allocUnsafe(1 << 16);
    return out;
  }
}

export function encodeManifest(entries: Entry[]): Buffer {
  const w = new ManifestWriter();
  for (const e of entries) w.push(e);
  return w.finish();
}

/**
 * A decoded manifest: its bytes and one offset per entry. Entries are read
 * from the bytes when asked for (get), so a million entries cost the
 * manifest's size plus 4 bytes each, not a million objects.
 */
/** Read access to entries by index: a Manifest (one segment) or a ManifestSet (all so far). */
export interface EntryView {
  readonly length: number;
  kind(i: number): Kind;
  flags(i: number): number;
  size(i: number): number;
  path(i: number): Buffer;
  get(i: number): Entry;
}

export class Manifest implements EntryView {
  constructor(readonly bytes: Buffer, private readonly offs: Uint32Array, readonly first = 0) {}

  get length(): number { return this.offs.length; }

  kind(i: number): Kind { return this.bytes.readUInt8(this.offs[i]) as Kind; }
  flags(i: number): number { return this.bytes.readUInt8(this.offs[i] + 1); }
  size(i: number): number { return Number(this.bytes.readBigUInt64BE(this.offs[i] + 14)); }
  /** The path, as a view into the manifest bytes (no copy). */
  path(i: number): Buffer {
    const o = this.offs[i];
    return this.bytes.subarray(o + FIXED, o + FIXED + this.bytes.readUInt16BE(o + 30));
  }

  get(i: number): Entry {
    const b = this.bytes;
    let o = this.offs[i];
    const kind = b.readUInt8(o) as Kind;
    const flags = b.readUInt8(o + 1);
    const e: Entry = {
      path: this.path(i), kind, size: Number(b.readBigUInt64BE(o + 14)), mode: b.readUInt32BE(o + 2),
      uid: b.readUInt32BE(o + 6), gid: b.readUInt32BE(o + 10), mtimeNs: b.readBigInt64BE(o + 22),
    };
    o += FIXED + b.readUInt16BE(o + 30);
    if (kind === Kind.Symlink) {
      const llen = b.readUInt16BE(o);
      e.link = b.subarray(o + 2, o + 2 + llen);
      o += 2 + llen;
    } else if (kind === Kind.Hardlink) {
      e.leader = b.readUInt32BE(o);
      o += 4;
    }
    if (flags & Flag.Hash) e.hash = b.subarray(o, o + HASH_LEN);
    if (flags) e.flags = flags;
    return e;
  }

  toArray(): Entry[] {
    return Array.from({ length: this.length }, (_, i) => this.get(i));
  }
}


/**
 * Decode and check a manifest from the network: every count is bounded by
 * the bytes actually present, every name is a clean relative path, parents
 * come before children, hardlinks point back at an earlier regular file.
 */
export function decodeManifest(b: Buffer, set?: ManifestSet): Manifest {
  const bad = (why: string): never => { throw new ManifestError(`bad manifest: ${why}`); };
  if (b.length < HEAD || b.readUInt32BE(0) !== MAGIC) bad('magic');
  if (b.readUInt8(4) !== VERSION) bad('version');
  const first = b.readUInt32BE(5);
  const count = b.readUInt32BE(9);
  if (first !== (set?.length ?? 0)) bad('segment out of order');
  if (count === 0 || count > (b.length - HEAD) / (FIXED + 1) || first + count > MAX_ENTRIES) bad('entry count');
  const offs = new Uint32Array(count);
  const kinds = new Uint8Array(count);
  const dirs = set?.dirs ?? new Set<string>();
  const added: string[] = []; // directories this segment adds (taken back if it is refused)
  let o = HEAD;
  try {
  for (let n = 0; n < count; n++) {
    const i = first + n;
    if (o + FIXED > b.length) bad('truncated');
    offs[n] = o;
    const kind = b.readUInt8(o) as Kind;
    const flags = b.readUInt8(o + 1);
    const mode = b.readUInt32BE(o + 2); // uid at 6, gid at 10 and mtime at 22: any value is valid
    const size = b.readBigUInt64BE(o + 14);
    const plen = b.readUInt16BE(o + 30);
    o += FIXED;
    if (kind > Kind.Hardlink) bad('entry type');
    if (flags & ~FLAGS_KNOWN) bad('flags');
    if (flags & (Flag.Whole | Flag.Implied) && kind !== Kind.Dir) bad('flags');
    if (flags & Flag.Hash && kind !== Kind.File) bad('flags');
    if (flags & Flag.Implied && i !== 0) bad('flags');
    if (mode > 0o7777) bad('mode');
    if (size > BigInt(Number.MAX_SAFE_INTEGER) || (kind !== Kind.File && size !== 0n)) bad('size');
    if (o + plen > b.length) bad('truncated');
    const path = b.subarray(o, o + plen);
    o += plen;
    const why = pathProblem(path);
    if (why) bad(`${why}: ${display(path)}`);
    const isRootEntry = path.length === 1 && path[0] === 0x2e;
    if ((i === 0) !== isRootEntry) bad('the root must come first, once');
    if (i === 0 && kind !== Kind.Dir) bad('the root must be a directory');
    if (!isRootEntry) {
      const slash = path.lastIndexOf(0x2f);
      const parent = slash < 0 ? '.' : path.subarray(0, slash).toString('latin1');
      if (!dirs.has(parent)) bad(`parent not listed before ${display(path)}`);
    }
    kinds[n] = kind;
    if (kind === Kind.Symlink) {
      if (o + 2 > b.length) bad('truncated');
      const llen = b.readUInt16BE(o);
      o += 2;
      if (llen === 0 || o + llen > b.length) bad('symlink target');
      if (b.subarray(o, o + llen).includes(0)) bad('NUL in symlink target');
      o += llen;
    } else if (kind === Kind.Hardlink) {
      if (o + 4 > b.length) bad('truncated');
      const leader = b.readUInt32BE(o);
      o += 4;
      if (leader >= i || (leader >= first ? kinds[leader - first] : set!.kind(leader)) !== Kind.File) bad('hardlink leader');
    } else if (kind === Kind.Dir) {
      const key = isRootEntry ? '.' : path.toString('latin1');
      if (!dirs.has(key)) { dirs.add(key); added.push(key); }
    }
    if (flags & Flag.Hash) {
      if (o + HASH_LEN > b.length) bad('truncated');
      o += HASH_LEN;
    }
  }
  if (o !== b.length) bad('trailing bytes');
  } catch (e) {
    for (const k of added) dirs.delete(k);
    throw e;
  }
  const m = new Manifest(b, offs, first);
  set?.add(m);
  return m;
}

/**
 * The whole manifest as it arrives, segment by segment, read through one
 * index: the same accessors as Manifest. Keeps the directory names seen so
 * far, for the next segment's parent-before-child check.
 */
export class ManifestSet implements EntryView {
  private segs: Manifest[] = [];
  readonly dirs = new Set<string>();
  length = 0;

  add(m: Manifest): void {
    this.segs.push(m);
    this.length += m.length;
  }

  get segments(): number { return this.segs.length; }

  private at(i: number): [Manifest, number] {
    let lo = 0;
    let hi = this.segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segs[mid].first <= i) lo = mid;
      else hi = mid - 1;
    }
    const m = this.segs[lo];
    if (!m || i < m.first || i >= m.first + m.length) throw new RangeError(`no entry ${i}`);
    return [m, i - m.first];
  }

  kind(i: number): Kind { const [m, j] = this.at(i); return m.kind(j); }
  flags(i: number): number { const [m, j] = this.at(i); return m.flags(j); }
  size(i: number): number { const [m, j] = this.at(i); return m.size(j); }
  path(i: number): Buffer { const [m, j] = this.at(i); return m.path(j); }
  get(i: number): Entry { const [m, j] = this.at(i); return m.get(j); }
  toArray(): Entry[] { return Array.from({ length: this.length }, (_, i) => this.get(i)); }
}
