// Round-trip statistics: the original's 1-ms histogram, a log-spaced
// microsecond histogram that shows the shape of a modern LAN, and
// nearest-rank percentiles.

/** Nearest-rank percentile of sorted values: the smallest value with at least p% at or below it. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export interface MsBucket { ms: number; count: number }

/** The original's buckets: label m holds round trips in [m-1, m) ms. */
export function msHistogram(rttUs: number[]): MsBucket[] {
  const m = new Map<number, number>();
  for (const us of rttUs) {
    const b = Math.floor(us / 1000) + 1;
    m.set(b, (m.get(b) ?? 0) + 1);
  }
  return [...m].sort((a, b) => a[0] - b[0]).map(([ms, count]) => ({ ms, count }));
}

export interface UsBucket { fromUs: number; toUs: number; count: number }

/**
 * Log-spaced buckets, four per octave: [0,10), then edges 10 * 2^(k/4) us
 * rounded, so 10-12, 12-14, 14-17, 17-20, 20-24, ... up to seconds. Only
 * non-empty buckets are returned.
 */
export function usEdges(maxUs: number): number[] {
  const edges = [0, 10];
  let k = 1;
  while (edges[edges.length - 1] <= maxUs) {
    const e = Math.round(10 * 2 ** (k / 4));
    if (e > edges[edges.length - 1]) edges.push(e);
    k++;
  }
  return edges;
}

export function usHistogram(rttUs: number[]): UsBucket[] {
  if (rttUs.length === 0) return [];
  const edges = usEdges(Math.max(...rttUs));
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const us of rttUs) {
    let lo = 0;
    let hi = edges.length - 1; // find i with edges[i] <= us < edges[i+1]
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (edges[mid] <= us) lo = mid;
      else hi = mid;
    }
    counts[lo]++;
  }
  const out: UsBucket[] = [];
  counts.forEach((count, i) => { if (count) out.push({ fromUs: edges[i], toUs: edges[i + 1], count }); });
  return out;
}

export interface HostFigures {
  host: string;
  sent: number;
  received: number;    // answered within the timeout, first answer only
  missing: number;     // sent - received
  late: number;        // answered after the timeout (counted missing)
  duplicates: number;
  outOfOrder: number;
  minUs: number; p50Us: number; p90Us: number; p99Us: number; maxUs: number; meanUs: number;
  msHistogram: MsBucket[];
  usHistogram: UsBucket[];
}

export function figures(host: string, sent: number, rttUs: number[], late: number, duplicates: number, outOfOrder: number): HostFigures {
  const s = [...rttUs].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return {
    host, sent, received: s.length, missing: sent - s.length, late, duplicates, outOfOrder,
    minUs: s.length ? s[0] : NaN, p50Us: percentile(s, 50), p90Us: percentile(s, 90), p99Us: percentile(s, 99),
    maxUs: s.length ? s[s.length - 1] : NaN, meanUs: mean,
    msHistogram: msHistogram(s), usHistogram: usHistogram(s),
  };
}

const r1 = (x: number): string => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '-');

/** Exactly the original rtt's report for one host. */
export function originalReport(f: HostFigures): string {
  const pct = f.sent ? (100 * f.missing) / f.sent : 0;
  const lines = [
    `Missing pages = ${String(f.missing).padStart(10)} (${pct.toFixed(2).padStart(5)}%) out of total pages = ${f.sent}`,
    'rtt histogram',
    'msec counts',
    '---- --------',
  ];
  for (const b of f.msHistogram) lines.push(`${String(b.ms).padStart(4)} ${b.count}`);
  return lines.join('\n');
}

/** What the original lacked: percentiles, loss detail, and a microsecond histogram with bars. */
export function detailReport(f: HostFigures, barWidth = 40): string {
  const lines = [
    `${f.host}: min ${r1(f.minUs)} us  p50 ${r1(f.p50Us)} us  p90 ${r1(f.p90Us)} us  p99 ${r1(f.p99Us)} us  max ${r1(f.maxUs)} us`,
    `${f.host}: lost ${f.missing} of ${f.sent} (${f.sent ? ((100 * f.missing) / f.sent).toFixed(2) : '0.00'}%, ${f.late} late), duplicates ${f.duplicates}, out of order ${f.outOfOrder}`,
    '      usec    counts',
  ];
  const max = Math.max(1, ...f.usHistogram.map((b) => b.count));
  for (const b of f.usHistogram) {
    const bar = '#'.repeat(Math.max(1, Math.round((b.count / max) * barWidth)));
    lines.push(`${`${b.fromUs}-${b.toUs}`.padStart(12)} ${String(b.count).padStart(8)} ${bar}`);
  }
  return lines.join('\n');
}

export function tableRow(f: HostFigures, w: number): string {
  const pct = f.sent ? ((100 * f.missing) / f.sent).toFixed(2) : '0.00';
  return `${f.host.padEnd(w)} ${String(f.sent).padStart(6)} ${String(f.received).padStart(6)} ${`${pct}%`.padStart(7)} ` +
    `${r1(f.minUs).padStart(8)} ${r1(f.p50Us).padStart(8)} ${r1(f.p90Us).padStart(8)} ${r1(f.p99Us).padStart(8)} ${r1(f.maxUs).padStart(8)} ` +
    `${String(f.duplicates).padStart(5)} ${String(f.outOfOrder).padStart(5)}`;
}

export function tableHeader(w: number): string {
  return `${'host'.padEnd(w)} ${'sent'.padStart(6)} ${'recv'.padStart(6)} ${'loss'.padStart(7)} ${'min us'.padStart(8)} ${'p50 us'.padStart(8)} ` +
    `${'p90 us'.padStart(8)} ${'p99 us'.padStart(8)} ${'max us'.padStart(8)} ${'dups'.padStart(5)} ${'ooo'.padStart(5)}`;
}
