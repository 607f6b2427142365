// The native loop's event batches on the master, as typed calls: a send job
// ended (with a first pass's hash, or an errno), or a target's control
// datagram (ack, missing pages, done, ...). Only decoding and routing here;
// sender.ts acts on them.
import { LoopEvent } from '../native';
import { DoneInfo, Msg, decodeDone, readAcks } from '../wire/protocol';

export interface MasterEvents {
  /** A send job was done (hash: its first pass's SHA-256, if it ended one) or failed (errno). */
  jobEnded(job: number, hash: Buffer | null, errno: number | null, now: number): void;
  /** A control datagram from target sender (1..n) arrived; false: ignore it (no such target, or out of the run). */
  heard(sender: number, now: number): boolean;
  stat(sender: number, received: number, expected: number, atNs: number, now: number): void;
  openOk(sender: number, object: number, rxNs: number, now: number): void;
  missing(sender: number, object: number, round: number, payload: Buffer, now: number): void;
  checkMissing(sender: number, object: number, k: number, payload: Buffer, now: number): void;
  done(sender: number, object: number, d: DoneInfo, now: number): void;
  wait(sender: number, object: number, round: number, now: number): void;
  needSum(sender: number, object: number, now: number): void;
}

const EMPTY = Buffer.alloc(0);

/** One file's answer that needs no payload, alone or in an Acks (arg: Done's code, the round of Wait and NeedSum). */
function answer(h: MasterEvents, e: LoopEvent, now: number, type: number, object: number, arg: number): void {
  switch (type) {
    case Msg.OpenOk: h.openOk(e.sender, object, e.rxNs, now); break;
    case Msg.Done: h.done(e.sender, object, { code: arg, message: '' }, now); break;
    case Msg.Wait: h.wait(e.sender, object, arg, now); break;
    case Msg.NeedSum: h.needSum(e.sender, object, now); break;
  }
}

export function dispatch(evs: LoopEvent[], h: MasterEvents, now: number): void {
  for (const e of evs) {
    if (e.kind === 'sent' || e.kind === 'jobError') {
      h.jobEnded(e.index, e.kind === 'sent' ? (e.payload ? Buffer.from(e.payload) : null) : null, e.kind === 'jobError' ? e.err : null, now);
      continue;
    }
    if (e.kind !== 'control' || !h.heard(e.sender, now)) continue;
    const p = e.payload ?? EMPTY;
    switch (e.type) {
      case Msg.Stat:
        if (p.length === 24) h.stat(e.sender, Number(p.readBigUInt64BE(0)), Number(p.readBigUInt64BE(8)), Number(p.readBigUInt64BE(16)), now);
        break;
      case Msg.OpenOk: case Msg.Wait: case Msg.NeedSum: answer(h, e, now, e.type, e.object, e.index); break;
      case Msg.Missing: h.missing(e.sender, e.object, e.index, p, now); break;
      case Msg.CheckMissing: h.checkMissing(e.sender, e.object, e.index, p, now); break;
      case Msg.Done: {
        const d = decodeDone(p);
        if (d) h.done(e.sender, e.object, d, now);
        break;
      }
      case Msg.Acks: readAcks(p, (type, object, arg) => answer(h, e, now, type, object, arg)); break;
      default: break;
    }
  }
}
