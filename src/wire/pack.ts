// Packs: many small files in one flow. A file of a few KB sent alone costs a
// datagram of its own (most of a page empty), an OPEN, an EOF, an answer and
// a repair round of its own; the master instead reads runs of small files
// that are next to each other in its queue into one pack and multicasts it
// as one flow, hashed and signed as a file is (its SHA-256 in a Sums), so a
// target commits nothing of it unless all of it is what the master read.
// Each target then writes the files of the pack it needs, each through its
// own temp file and rename, as any file.
//
// On the wire a pack is object PACK_BASE + k (between the entries' objects
// and the manifest segments'); its OPEN goes alone (not in an Opens batch)
// with the pack's size as its index; its bytes: u32 count, count u32 objects
// (the files, in order), then their contents back to back, each of the size
// the manifest gives it.
import { PACK_BASE, SEG_BASE } from './manifest';

export { PACK_BASE };
export const isPack = (object: number): boolean => object >= PACK_BASE && object < SEG_BASE;

/** Files of at most this many bytes go in packs. */
export const PACK_FILE_MAX = 16 << 10;
/** A pack holds at most this many bytes (header included)... */
export const PACK_BYTES = 64 << 10;
/** ... and this many files. */
export const PACK_FILES = 64;

/** The header's length for count files. */
export const packHeaderLen = (count: number): number => 4 + 4 * count;

/** The header of a pack of these files (objects, in the order of their contents). */
export function encodePackHeader(objects: readonly number[]): Buffer {
  const b = Buffer.alloc(packHeaderLen(objects.length));
  b.writeUInt32BE(objects.length, 0);
  objects.forEach((o, j) => b.writeUInt32BE(o >>> 0, 4 + 4 * j));
  return b;
}

/** A file of a pack: its object and where its content lies in the pack. */
export interface PackMember { object: number; offset: number; size: number }

/**
 * The files of a pack of these bytes, each with its place; sizeOf(object)
 * gives a file's size from the manifest (null: not a file of it). Null if
 * the bytes do not make a pack: a bad count, an object that is no file of
 * the manifest or comes twice, or contents that do not end where the pack
 * does.
 */
export function decodePack(b: Buffer, sizeOf: (object: number) => number | null): PackMember[] | null {
  if (b.length < 4) return null;
  const count = b.readUInt32BE(0);
  if (count === 0 || count > PACK_FILES || packHeaderLen(count) > b.length) return null;
  const out: PackMember[] = [];
  const seen = new Set<number>();
  let offset = packHeaderLen(count);
  for (let j = 0; j < count; j++) {
    const object = b.readUInt32BE(4 + 4 * j);
    const size = sizeOf(object);
    if (size === null || size <= 0 || seen.has(object) || offset + size > b.length) return null;
    seen.add(object);
    out.push({ object, offset, size });
    offset += size;
  }
  return offset === b.length ? out : null;
}
