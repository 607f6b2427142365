// Names that come from the network are bytes, never trusted: this is the one
// place that decides whether a relative path may be written under a root.

const SLASH = 0x2f;

/** The longest relative path a push carries: PATH_MAX less its NUL, the longest the target's kernel opens beneath the root. */
export const MAX_PATH = 4095;

/** Why a manifest path is refused, or null if it is a clean relative path. */
export function pathProblem(p: Buffer): string | null {
  if (p.length === 0) return 'empty name';
  if (p.length > MAX_PATH) return 'name too long';
  if (p.length === 1 && p[0] === 0x2e) return null; // "." is the root itself
  if (p[0] === SLASH) return 'absolute name';
  if (p.includes(0)) return 'NUL in name';
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i === p.length || p[i] === SLASH) {
      const len = i - start;
      if (len === 0) return 'empty path component';
      if (len > 255) return 'path component too long';
      if (len === 1 && p[start] === 0x2e) return "'.' component";
      if (len === 2 && p[start] === 0x2e && p[start + 1] === 0x2e) return "'..' component";
      start = i + 1;
    }
  }
  return null;
}

export function isRoot(p: Buffer): boolean {
  return p.length === 1 && p[0] === 0x2e;
}

/** root + '/' + rel as bytes ("." maps to the root). */
export function under(root: Buffer, rel: Buffer): Buffer {
  if (isRoot(rel)) return root;
  const r = root.length > 1 && root[root.length - 1] === SLASH ? root.subarray(0, root.length - 1) : root;
  return Buffer.concat([r, Buffer.from('/'), rel]);
}

export function parentOf(rel: Buffer): Buffer {
  const i = rel.lastIndexOf(SLASH);
  return i < 0 ? Buffer.from('.') : rel.subarray(0, i);
}

export function baseOf(rel: Buffer): Buffer {
  const i = rel.lastIndexOf(SLASH);
  return i < 0 ? rel : rel.subarray(i + 1);
}

/** Printable form of a byte name: non-printable and non-UTF-8 bytes as rsync's \#ooo. */
export function display(p: Buffer): string {
  const s = p.toString('utf8');
  if (Buffer.from(s, 'utf8').equals(p) && !/[\x00-\x1f\x7f\\]/.test(s)) return s;
  let out = '';
  for (let i = 0; i < p.length; ) {
    const b = p[i];
    // copy valid multi-byte UTF-8 sequences as they are
    const n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 1;
    if (n > 1 && i + n <= p.length) {
      const chunk = p.subarray(i, i + n);
      const t = chunk.toString('utf8');
      if (!t.includes('\ufffd') && Buffer.from(t, 'utf8').equals(chunk)) { out += t; i += n; continue; }
    }
    if (b < 0x20 || b === 0x7f || b >= 0x80 || b === 0x5c) out += '\\#' + b.toString(8).padStart(3, '0');
    else out += String.fromCharCode(b);
    i++;
  }
  return out;
}
