// Message types and payload codecs of the control messages. The packet
// header and tag are native (native/wire.h); these are the payloads JS reads.
import { MasterSigner, MasterVerifier, SIGNATURE_LEN } from './signing';
import { FAILURE_CODES } from '../errors';

export const enum Msg {
  Data = 1,
  // master -> all (multicast)
  Open = 2,      // object = file id; payload OpenInfo
  Eof = 3,       // object = file id; index = repair round
  Abort = 4,     // object = file id: drop the partial file
  // (5 is a parity page, native/fec.h)
  Check = 6,     // object = file id; index = checkpoint k; payload u32 from, u32 to: what is missing in [from, to)?
  Sums = 7,      // object 0; index = a running count; payload: files' SHA-256s, signed by the master (encodeSums)
  Opens = 8,     // object 0; payload: who must answer (withAwaited), then u32 objects: OPEN of each (encodeBatch)
  Eofs = 9,      // object 0; payload: who must answer, then (u32 object, u32 round) pairs: EOF of each
  Train = 10,    // object 0; index = its place in the train; payload a page of zeros: the rate's probe (train.ts)
  // target -> master (unicast)
  OpenOk = 16,   // object = file id
  Missing = 17,  // object = file id; index = round; payload MissingInfo
  Done = 18,     // object = file id; payload DoneInfo
  Wait = 19,     // object = file id: still verifying, do not count me silent
  Stat = 20,     // object 0; payload u64 data datagrams received, u64 expected (from the master's seq), cumulative; u64 its clock (ns)
  CheckMissing = 21, // object = file id; index = checkpoint k; payload MissingInfo within [from, to)
  NeedSum = 22,  // object = file id: every page is here, its signed SHA-256 is not (a Sums was lost): send it again
  Acks = 23,     // object 0; payload: many files' OpenOk, Done (delivered, or a failure's code alone), Wait, NeedSum (encodeAck)
}

export const HASH_LEN = 32;


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

/**
 * Sums: the SHA-256 of files whose first pass is out, the master's word on
 * what each target may commit. u8 n, then n times (u32 object, 32 bytes),
 * then the master's Ed25519 signature over them (signing.ts), so that no
 * other holder of the session key (another target) can say otherwise.
 */
export const SUM_LEN = 4 + HASH_LEN;

/** How many sums fit a datagram of payload bytes. */
export function sumsPerDatagram(payload: number): number {
  return Math.max(1, Math.min(255, Math.floor((payload - 1 - SIGNATURE_LEN) / SUM_LEN)));
}

export function encodeSums(sums: ReadonlyArray<readonly [number, Buffer]>, index: number, signer: MasterSigner): Buffer {
  const body = Buffer.alloc(1 + sums.length * SUM_LEN);
  body.writeUInt8(sums.length, 0);
  sums.forEach(([object, hash], k) => {
    body.writeUInt32BE(object, 1 + k * SUM_LEN);
    hash.copy(body, 5 + k * SUM_LEN, 0, HASH_LEN);
  });
  return Buffer.concat([body, signer.sign(Msg.Sums, 0, index, body)]);
}

/** The sums of a Sums payload if the master signed it; null otherwise (malformed, forged, or another session's key). */
export function decodeSums(b: Buffer | undefined, index: number, verifier: MasterVerifier): Array<[number, Buffer]> | null {
  if (!b || b.length < 1 + SIGNATURE_LEN) return null;
  const n = b[0];
  if (n === 0 || b.length !== 1 + n * SUM_LEN + SIGNATURE_LEN) return null;
  const body = b.subarray(0, 1 + n * SUM_LEN);
  if (!verifier.verify(Msg.Sums, 0, index, body, b.subarray(body.length))) return null;
  const out: Array<[number, Buffer]> = [];
  for (let k = 0; k < n; k++) out.push([body.readUInt32BE(1 + k * SUM_LEN), Buffer.from(body.subarray(5 + k * SUM_LEN, 5 + k * SUM_LEN + HASH_LEN))]);
  return out;
}

/** An Abort's payload: the master's signature (a forged Abort would make a target drop a file it is receiving). */
export function encodeAbort(object: number, signer: MasterSigner): Buffer {
  return signer.sign(Msg.Abort, object, 0, Buffer.alloc(0));
}

export function abortSigned(object: number, payload: Buffer | undefined, verifier: MasterVerifier): boolean {
  return !!payload && verifier.verify(Msg.Abort, object, 0, Buffer.alloc(0), payload);
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

/** A target's result for one file: 0 delivered, else the index of its FailureCode (errors.ts FAILURE_CODES). */
export const enum DoneCode { Ok = 0, Failed = 1 }

export interface DoneInfo { code: number; message: string }

export function encodeDone(d: DoneInfo): Buffer {
  const msg = Buffer.from(d.message.slice(0, 300), 'utf8');
  return Buffer.concat([Buffer.from([d.code]), msg]);
}

export function decodeDone(b: Buffer): DoneInfo | null {
  if (b.length < 1 || b[0] >= FAILURE_CODES.length) return null;
  return { code: b[0], message: b.subarray(1).toString('utf8') };
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

/**
 * Acks: the answers a target has for many files at once, in one datagram
 * (what a batch of the master's OPENs, EOFs and pages made it say), instead
 * of one datagram each: u8 type (OpenOk, Done, Wait, NeedSum), u32 object,
 * u32 arg (Done: its code, 0 delivered; Wait and NeedSum: the round), per
 * file. A failure with a message, missing pages and checkpoints' answers go
 * in datagrams of their own.
 */
export const ACK_LEN = 9;
/** Acks per datagram (1,197 bytes of payload: well inside a 1500-byte MTU with the header and tag). */
export const ACKS_PER_DATAGRAM = 133;

export type AckType = Msg.OpenOk | Msg.Done | Msg.Wait | Msg.NeedSum;

export function writeAck(b: Buffer, at: number, type: AckType, object: number, arg: number): void {
  b[at] = type;
  b.writeUInt32BE(object >>> 0, at + 1);
  b.writeUInt32BE(arg >>> 0, at + 5);
}

/** Each ack of an Acks payload, in order; false if it is malformed (then none is taken). */
export function readAcks(b: Buffer, each: (type: AckType, object: number, arg: number) => void): boolean {
  if (b.length === 0 || b.length % ACK_LEN !== 0) return false;
  for (let at = 0; at < b.length; at += ACK_LEN) {
    const t = b[at];
    if (t !== Msg.OpenOk && t !== Msg.Done && t !== Msg.Wait && t !== Msg.NeedSum) return false;
    if (t === Msg.Done && b.readUInt32BE(at + 5) >= FAILURE_CODES.length) return false;
  }
  for (let at = 0; at < b.length; at += ACK_LEN) each(b[at] as AckType, b.readUInt32BE(at + 1), b.readUInt32BE(at + 5));
  return true;
}

/**
 * Opens and Eofs: the OPENs (or EOFs) of many files that await the same
 * targets, in one datagram: the awaited bitmap as withAwaited makes it, then
 * per file u32 object (Opens) or u32 object, u32 round (Eofs). The master
 * sends what one turn of its loop opened or ended this way (window.ts opens
 * files in bursts; a Sums releases the EOFs of up to 38 files at once).
 */
export const BATCH_PAYLOAD = 1200;

/** How many files fit a batch with this awaited part (withAwaited's), of itemLen bytes each; 0: none (too many targets). */
export function batchRoom(awaitedLen: number, itemLen: number): number {
  return Math.max(0, Math.floor((BATCH_PAYLOAD - awaitedLen) / itemLen));
}

export function encodeBatch(awaited: Buffer, items: number[]): Buffer {
  const b = Buffer.alloc(awaited.length + items.length * 4);
  awaited.copy(b, 0);
  for (let i = 0; i < items.length; i++) b.writeUInt32BE(items[i] >>> 0, awaited.length + 4 * i);
  return b;
}

/** The u32s after the awaited part (splitAwaited's rest); null if not whole (itemLen 4: objects; 8: object, round pairs). */
export function decodeBatch(rest: Buffer, itemLen: 4 | 8): number[] | null {
  if (rest.length === 0 || rest.length % itemLen !== 0) return null;
  const out: number[] = [];
  for (let at = 0; at < rest.length; at += 4) out.push(rest.readUInt32BE(at));
  return out;
}
