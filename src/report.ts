// The final report: one line per target, then totals.
import { PushReport } from './master';

export function human(bytes: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${u[i]}`;
}

export function formatReport(r: PushReport): string {
  const lines: string[] = [];
  const w = Math.max(6, ...r.targets.map((t) => t.host.length));
  lines.push(`${'target'.padEnd(w)}  ${'state'.padEnd(11)}  ${'files'.padStart(7)}  ${'bytes'.padStart(10)}  ${'re-asked'.padStart(8)}  note`);
  for (const t of r.targets) {
    const pct = r.pagesSent ? `${((100 * t.missingPages) / Math.max(1, r.pagesSent)).toFixed(2)}%` : '-';
    const note = t.error ?? (t.failures.length ? `${t.failures.length} not delivered` : t.needed === 0 ? 'up to date' : '');
    lines.push(`${t.host.padEnd(w)}  ${t.state.padEnd(11)}  ${String(t.filesSent).padStart(7)}  ${human(t.bytesSent).padStart(10)}  ${pct.padStart(8)}  ${note}`);
    for (const f of t.failures.slice(0, 10)) lines.push(`${''.padEnd(w)}    ${f.path}: ${f.error}`);
    if (t.failures.length > 10) lines.push(`${''.padEnd(w)}    ... and ${t.failures.length - 10} more`);
  }
  const secs = r.seconds;
  const rate = secs > 0 ? (r.bytes * 8) / secs / 1e6 : 0;
  const resentPct = r.pagesSent ? ((100 * r.pagesResent) / r.pagesSent).toFixed(2) : '0.00';
  lines.push(
    `total: ${r.entries} entries, ${r.files} files sent (${human(r.bytes)}), ${r.pagesSent} pages + ${r.pagesResent} re-sent (${resentPct}%), ` +
      `${secs.toFixed(1)} s, ${rate.toFixed(1)} Mbit/s`,
  );
  const ok = r.targets.filter((t) => t.state === 'OK').length;
  lines.push(`${ok} of ${r.targets.length} targets OK`);
  if (r.changed.length) lines.push(`changed on the master during the send: ${r.changed.join(', ')}`);
  if (r.stats.badAuth || r.stats.badSession || r.stats.badFormat) {
    lines.push(`dropped packets: ${r.stats.badAuth} failed authentication, ${r.stats.badSession} other session, ${r.stats.badFormat} malformed`);
  }
  return lines.join('\n');
}

/** Exit status: 0 all OK, 2 some target lacks some entry, 3 some target unreachable or dropped. */
export function exitCode(r: PushReport): number {
  if (r.quit || r.targets.some((t) => t.state === 'DROPPED' || t.state === 'UNREACHABLE')) return 3;
  if (r.targets.some((t) => t.state !== 'OK') || r.changed.length) return 2;
  return 0;
}
