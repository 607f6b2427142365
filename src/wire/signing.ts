// What a target commits by must come from the master alone. Every target of
// a session holds the session key (the datagrams' tag), so any one of them
// (or whoever owns one) could forge a datagram the others accept: pages,
// commands, hashes. Pages may keep the cheap shared-key tag (a forged page
// can at worst fail the file's hash check), but the hashes the targets check
// files against, and the commands that make them drop work, carry an Ed25519
// signature of the master's, whose public key each target gets over its own
// channel in the session header. Manifest segments are checked against the
// SHA-256 the master sends over that channel too (session.ts 'segment').
import crypto from 'node:crypto';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo: the raw 32-byte key follows. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
export const SIGNATURE_LEN = 64;
const CONTEXT = Buffer.from('mrsync signed control\0');

/** The bytes a signature covers: a context string, the datagram's type, object and index, and its body. */
function signed(type: number, object: number, index: number, body: Buffer): Buffer {
  const h = Buffer.alloc(CONTEXT.length + 9);
  CONTEXT.copy(h, 0);
  h.writeUInt8(type, CONTEXT.length);
  h.writeUInt32BE(object >>> 0, CONTEXT.length + 1);
  h.writeUInt32BE(index >>> 0, CONTEXT.length + 5);
  return Buffer.concat([h, body]);
}

/** The master's key pair for one session. */
export class MasterSigner {
  private readonly key: crypto.KeyObject;
  /** The public key as 64 hex characters (raw Ed25519), for the session header. */
  readonly publicKey: string;

  constructor() {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    this.key = privateKey;
    this.publicKey = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length).toString('hex');
  }

  sign(type: number, object: number, index: number, body: Buffer): Buffer {
    return crypto.sign(null, signed(type, object, index, body), this.key);
  }
}

/** A target's check of the master's signatures. */
export class MasterVerifier {
  private readonly key: crypto.KeyObject;

  /** hex: the session header's signKey (64 hex characters). Throws if it is not an Ed25519 key. */
  constructor(hex: string) {
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('session: bad signKey');
    this.key = crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
  }

  verify(type: number, object: number, index: number, body: Buffer, signature: Buffer): boolean {
    if (signature.length !== SIGNATURE_LEN) return false;
    try {
      return crypto.verify(null, signed(type, object, index, body), this.key, signature);
    } catch {
      return false;
    }
  }
}
