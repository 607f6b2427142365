// Message types and payload codecs of the control messages. The packet
// header and tag are native (native/wire.h); these are the payloads JS reads.

export const enum Msg {
  Data = 1,
  // master -> all (multicast)
  Open = 2,      // object = file id; payload OpenInfo
  Eof = 3,       // object = file id; index = repair round
  Abort = 4,     // object = file id: drop the partial file
  // (5 is a parity page, native/fec.h)
  Check = 6,     // object = file id; index = checkpoint k; payload u32 from, u32 to: what is missing in [from, to)?
  // target -> master (unicast)
  OpenOk = 16,   // object = file id
  Missing = 17,  // object = file id; index = round; payload MissingInfo
  Done = 18,     // object = file id; payload DoneInfo
  Wait = 19,     // object = file id: still verifying, do not count me silent
  Stat = 20,     // object 0; payload u64 data datagrams received, u64 expected (from the master's seq), cumulative
  CheckMissing = 21, // object = file id; index = checkpoint k; payload MissingInfo within [from, to)
}

export const HASH_LEN = 32;


/**
 * hash null: a big file whose SHA-256 the master is still computing while
 * its pages go out; it comes with the EOF (payload: the 32-byte hash).
 */
export interface OpenInfo { size: number; mtimeNs: bigint; hash: Buffer | null }

export function encodeOpen(o: OpenInfo): Buffer {
  const b = Buffer.alloc(16 + (o.hash ? HASH_LEN : 0));
  b.writeBigUInt64BE(BigInt(o.size), 0);
  b.writeBigInt64BE(o.mtimeNs, 8);
  o.hash?.copy(b, 16, 0, HASH_LEN);
  return b;
}

export function decodeOpen(b: Buffer): OpenInfo | null {
  if (b.length !== 16 + HASH_LEN && b.length !== 16) return null;
  const size = b.readBigUInt64BE(0);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { size: Number(size), mtimeNs: b.readBigInt64BE(8), hash: b.length === 16 ? null : Buffer.from(b.subarray(16)) };
}

/**
 * OPEN and EOF payloads start with who must answer: u16 n, then n bytes of
 * bitmap (bit t-1 set = target t). A target whose answer the master already
 * has (it acked, answered this round, or is done) is left out of a re-sent
 * OPEN or EOF and stays silent: a re-send for one slow target does not make
 * every target answer again.
 */
export function withAwaited(awaited: Iterable<number>, targets: number, rest: Buffer | null): Buffer {
  const n = Math.ceil(targets / 8);
  const b = Buffer.alloc(2 + n + (rest?.length ?? 0));
  b.writeUInt16BE(n, 0);
  for (const t of awaited) if (t >= 1 && t <= targets) b[2 + ((t - 1) >> 3)] |= 1 << ((t - 1) & 7);
  rest?.copy(b, 2 + n);
  return b;
}

/** The awaited bitmap and the rest of an OPEN or EOF payload; null if malformed. */
export function splitAwaited(b: Buffer | undefined): { awaited: Buffer; rest: Buffer } | null {
  if (!b || b.length < 2) return null;
  const n = b.readUInt16BE(0);
  if (b.length < 2 + n) return null;
  return { awaited: b.subarray(2, 2 + n), rest: b.subarray(2 + n) };
}

export function isAwaited(awaited: Buffer, target: number): boolean {
  const i = (target - 1) >> 3;
  return target >= 1 && i < awaited.length && (awaited[i] & (1 << ((target - 1) & 7))) !== 0;
}

/** EOF payload (after the awaited bitmap): empty, or the file's SHA-256 when the OPEN went out without it. */
export function decodeEofHash(b: Buffer | undefined): Buffer | null {
  return b && b.length === HASH_LEN ? Buffer.from(b) : null;
}

/** Missing pages: total count, then (start, length) runs; possibly only a prefix of the runs. */
export interface MissingInfo { total: number; runs: Uint32Array }

export function encodeMissing(total: number, runs: Uint32Array): Buffer {
  const b = Buffer.alloc(4 + runs.length * 4);
  b.writeUInt32BE(total, 0);
  for (let i = 0; i < runs.length; i++) b.writeUInt32BE(runs[i], 4 + 4 * i);
  return b;
}

export function decodeMissing(b: Buffer, pages: number): MissingInfo | null {
  if (b.length < 4 || (b.length - 4) % 8 !== 0) return null;
  const total = b.readUInt32BE(0);
  if (total > pages) return null;
  const runs = new Uint32Array((b.length - 4) / 4);
  let covered = 0;
  for (let i = 0; i < runs.length; i += 2) {
    const start = b.readUInt32BE(4 + 4 * i);
    const len = b.readUInt32BE(8 + 4 * i);
    if (len === 0 || start >= pages || len > pages - start) return null;
    covered += len;
    runs[i] = start;
    runs[i + 1] = len;
  }
  if (covered > total) return null;
  return { total, runs };
}

/** Result codes a target reports for one file. */
export const enum DoneCode { Ok = 0, Failed = 1 }

export interface DoneInfo { code: DoneCode; message: string }

export function encodeDone(d: DoneInfo): Buffer {
  const msg = Buffer.from(d.message.slice(0, 300), 'utf8');
  return Buffer.concat([Buffer.from([d.code]), msg]);
}

export function decodeDone(b: Buffer): DoneInfo | null {
  if (b.length < 1 || b[0] > DoneCode.Failed) return null;
  return { code: b[0] as DoneCode, message: b.subarray(1).toString('utf8') };
}

/** Max runs in one Missing datagram that fits a 1500-byte MTU. */
export const RUNS_PER_PACKET = 170;
/** Max Missing datagrams a target sends per round. */
export const MISSING_PACKETS_PER_ROUND = 32;

/**
 * Big files are sent in chunks of this many pages (a multiple of the parity
 * block); after each chunk the master asks the targets what they miss of it
 * and repairs that while the next chunks go out, so a target's copy (and its
 * running hash) does not wait for the end of the file to be whole.
 */
export const CHECK_CHUNK_PAGES = 4096;
/** Files of at least this many pages get checkpoints. */
export const CHECK_MIN_PAGES = 3 * CHECK_CHUNK_PAGES;

export function encodeCheck(from: number, to: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(from, 0);
  b.writeUInt32BE(to, 4);
  return b;
}

export function decodeCheck(b: Buffer | undefined, pages: number): { from: number; to: number } | null {
  if (!b || b.length !== 8) return null;
  const from = b.readUInt32BE(0), to = b.readUInt32BE(4);
  return from < to && to <= pages ? { from, to } : null;
}
