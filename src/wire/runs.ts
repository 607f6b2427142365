// Page runs: (start, length) pairs, flattened in a Uint32Array.

/** Union of several run lists, sorted and merged. */
export function unionRuns(lists: Uint32Array[]): Uint32Array {
  const pairs: Array<[number, number]> = [];
  for (const l of lists) for (let i = 0; i + 1 < l.length; i += 2) pairs.push([l[i], l[i] + l[i + 1]]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [s, e] of pairs) {
    const n = out.length;
    if (n && s <= out[n - 2] + out[n - 1]) {
      const end = Math.max(out[n - 2] + out[n - 1], e);
      out[n - 1] = end - out[n - 2];
    } else {
      out.push(s, e - s);
    }
  }
  return Uint32Array.from(out);
}

export function runPages(runs: Uint32Array): number {
  let n = 0;
  for (let i = 1; i < runs.length; i += 2) n += runs[i];
  return n;
}

/** Pages per file at most (native kMaxPages: a parity page names its block of 128 in 24 bits). */
export const MAX_PAGES = 2 ** 31;

export function pagesOf(size: number, pageSize: number): number {
  return Math.ceil(size / pageSize);
}

/** The runs cut to [from, to). */
export function clipRuns(runs: Uint32Array, from: number, to: number): Uint32Array {
  const out: number[] = [];
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const s = Math.max(from, runs[i]), e = Math.min(to, runs[i] + runs[i + 1]);
    if (s < e) out.push(s, e - s);
  }
  return Uint32Array.from(out);
}
