// Files' hashes on their way to the targets: the SHA-256 of each first pass
// goes out in a Sums datagram signed with the master's key (signing.ts: what
// a target commits a file by comes from the master alone), up to 38 to a
// datagram, and each file's EOF waits for its Sums (a target then answers
// the EOF with Done, not NeedSum). A signature costs the master ~30 us and
// every target ~70 us to check, so hashes wait to fill a datagram, at most
// SUMS_WAIT_MS (the window keeps the link busy meanwhile), and go at once
// when no first pass is left to add one, or when a target asked again.
import { NativePageLoop } from '../native';
import { Msg, encodeSums, sumsPerDatagram } from '../wire/protocol';
import { MasterSigner } from '../wire/signing';

/** How long files' hashes wait to fill a signed Sums datagram. */
export const SUMS_WAIT_MS = 10;

export class SumsOut {
  private pending = new Map<number, Buffer>(); // file -> SHA-256, for the next Sums
  private since = 0;                           // when the oldest of them was queued (ms)
  private now = false;                         // a target waits for one (NeedSum): out at once
  private held = new Map<number, number>();    // file -> round of its EOF, held until its Sums is out
  private readonly per: number;
  sent = 0;                                     // Sums datagrams so far (their running index)

  constructor(private readonly loop: NativePageLoop, private readonly signer: MasterSigner, pageSize: number) {
    this.per = sumsPerDatagram(pageSize);
  }

  /** A file's hash for the next Sums; urgent: a target is waiting for it. */
  queue(obj: number, hash: Buffer, now: number, urgent = false): void {
    if (!this.pending.size) this.since = now;
    this.pending.set(obj, hash);
    if (urgent) this.now = true;
  }

  /** obj's EOF (this round) goes out after its hash does; false if the hash is out already (send it now). */
  holdEof(obj: number, round: number): boolean {
    if (!this.pending.has(obj)) return false;
    this.held.set(obj, round);
    return true;
  }

  /** The flow of obj ended: no EOF of it to send. */
  forget(obj: number): void {
    this.held.delete(obj);
  }

  /**
   * Send what waits if a datagram is full, a target waits, no first pass is
   * left (firstPasses 0), or the oldest waited SUMS_WAIT_MS; then the EOFs
   * held for those files (sendEof decides whether each is still due).
   */
  flush(now: number, firstPasses: number, sendEof: (obj: number, round: number) => void): void {
    if (!this.pending.size) return;
    if (this.pending.size < this.per && !this.now && firstPasses > 0 && now - this.since < SUMS_WAIT_MS) return;
    const all = [...this.pending];
    this.pending.clear();
    this.now = false;
    for (let i = 0; i < all.length; i += this.per) {
      const index = this.sent++;
      this.loop.sendControl(Msg.Sums, 0, index, encodeSums(all.slice(i, i + this.per), index, this.signer), false);
    }
    for (const [obj] of all) {
      const round = this.held.get(obj);
      if (round === undefined) continue;
      this.held.delete(obj);
      sendEof(obj, round);
    }
  }
}
