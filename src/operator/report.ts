// The final report: the original multicaster's summary, then one row per
// target, then (-v 1 and up) the round-trip histogram of the targets' acks.
import { PushReport } from '../master/summary';
import { msHistogram } from '../rtt/stats';
import { MANY_TARGETS, failureGroups, groupLines } from './groups';

export function human(bytes: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${u[i]}`;
}

/** The first n of items as lines under indent, then how many more there are. */
function upTo(items: string[], n: number, indent: string): string[] {
  const lines = items.slice(0, n).map((l) => indent + l);
  if (items.length > n) lines.push(`${indent}... and ${items.length - n} more`);
  return lines;
}

const pct = (n: number, of: number): string => (of ? ((100 * n) / of).toFixed(2) : '0.00');

/** The original multicaster's end-of-run summary, kept for the people who read it every morning. */
export function originalSummary(r: PushReport): string[] {
  const lines: string[] = [];
  const w = Math.max(...r.targets.map((t) => t.host.length), 4);
  // a big fleet: the targets that asked most (the status file has every one)
  const many = r.targets.length > MANY_TARGETS;
  const rows = many ? [...r.targets].sort((a, b) => b.missingPages - a.missingPages).slice(0, 10) : r.targets;
  for (const t of rows) {
    lines.push(`${t.host.padEnd(w)} #_missing_page_request = ${pct(t.missingPages, r.pagesSent)}% = ${t.missingPages}`);
  }
  if (many) lines.push(`(the ${rows.length} of ${r.targets.length} targets that asked most; every target in --status-file)`);
  const notDelivered = r.targets.flatMap((t) => t.failures.map((f) => `${t.host}: ${f.path} (${f.error})`));
  lines.push(`files not delivered: ${notDelivered.length || 'none'}`);
  lines.push(...upTo(notDelivered, 20, '  '));
  if (r.unreadable.length) {
    lines.push(`source entries the master could not read (not sent; --delete left their directories alone): ${r.unreadable.length}`);
    lines.push(...upTo(r.unreadable.map((u) => `${u.path}: ${u.error}`), 20, '  '));
  }
  const bytesResent = r.pagesResent * r.pageSize;
  lines.push(
    `total files = ${r.files}, total pages = ${r.pagesSent}, pages re-sent = ${r.pagesResent} (${pct(r.pagesResent, r.pagesSent)}%), ` +
      `bytes re-sent = ${human(bytesResent)} (${pct(bytesResent, r.bytes)}%)`,
  );
  const min = r.seconds / 60;
  const gb = r.bytes / 1e9;
  // per GB once the push carries 10 MB or more, as the cpu line (a few bytes in seconds is no speed)
  lines.push(`total time = ${min.toFixed(2)} min${gb >= 0.01 ? `, ${(min / gb).toFixed(2)} min/GB` : ''}`);
  const dropped = r.targets.filter((t) => t.state === 'DROPPED' || t.state === 'UNREACHABLE');
  // a big fleet: the count and the first hosts (why: by cause below)
  const named = many ? `${dropped.length}: ${dropped.slice(0, 8).map((t) => t.host).join(', ')}${dropped.length > 8 ? ` and ${dropped.length - 8} more` : ''} (by cause below)`
    : dropped.map((t) => `${t.host} (${t.error ?? t.state})`).join(', ');
  lines.push(`machines dropped: ${dropped.length ? named : 'none'}`);
  return lines;
}

export function targetTable(r: PushReport): string[] {
  const lines: string[] = [];
  // a big fleet: the rows of the first targets not OK; the rest by cause below, every one in the status file
  const many = r.targets.length > MANY_TARGETS;
  const notOk = r.targets.filter((t) => t.state !== 'OK');
  const rows = many ? notOk.slice(0, 10) : r.targets;
  const w = Math.max(6, ...rows.map((t) => t.host.length));
  lines.push(`${'target'.padEnd(w)}  ${'state'.padEnd(11)}  ${'files'.padStart(7)}  ${'bytes'.padStart(10)}  ${'re-asked'.padStart(8)}  ${'slowest file'.padEnd(24)}  note`);
  if (many) lines.push(`(${r.targets.length - notOk.length} targets OK and ${Math.max(0, notOk.length - rows.length)} more not OK: rows in --status-file)`);
  for (const t of rows) {
    const re = r.pagesSent ? `${pct(t.missingPages, r.pagesSent)}%` : '-';
    const slow = t.slowest ? `${t.slowest.seconds.toFixed(2)}s ${t.slowest.path}` : '-';
    const mirrored = [t.local?.deleted ? `${t.local.deleted} deleted` : '', t.local?.backedUp ? `${t.local.backedUp} backed up` : ''].filter(Boolean).join(', ');
    const note = t.error ?? ([t.failures.length ? `${t.failures.length} not delivered` : t.needed === 0 && !mirrored ? 'up to date' : '', mirrored,
      t.slow ? 'slow: set aside, caught up after the others' : ''].filter(Boolean).join(', '));
    lines.push(`${t.host.padEnd(w)}  ${t.state.padEnd(11)}  ${String(t.filesSent).padStart(7)}  ${human(t.bytesSent).padStart(10)}  ${re.padStart(8)}  ${truncate(slow, 24).padEnd(24)}  ${note}`);
    lines.push(...upTo(t.failures.map((f) => `${f.path}: ${f.error}`), 10, `${''.padEnd(w)}    `));
  }
  return lines;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** -n: per target, the itemized changes and their counts. */
export function dryRunReport(r: PushReport): string {
  const lines = ['dry run (-n): nothing was changed on any target'];
  for (const t of r.targets) {
    const items = t.items ?? [];
    const n = (re: RegExp): number => items.filter((l) => re.test(l)).length;
    const send = t.wouldSend ?? { files: 0, bytes: 0 };
    if (t.state !== 'OK') {
      lines.push('', `${t.host}: ${t.state}${t.error ? ` (${t.error})` : ''}`);
      for (const f of t.failures.slice(0, 10)) lines.push(`  ${f.path}: ${f.error}`);
      if (t.state !== 'FAILED') continue;
    }
    lines.push('', `${t.host}: would send ${send.files} files (${human(send.bytes)}); create ${n(/^(>f|c[dL]|hf)\+{9} /)}, ` +
      `replace ${n(/^(>f[^+]|cL\.)/)}, update metadata of ${n(/^\.[fdL]/)}, delete ${n(/^\*deleting /)}, back up ${n(/^\*backup /)}`);
    for (const l of items) lines.push(l);
  }
  return lines.join('\n');
}

export function formatReport(r: PushReport, verbose = 1): string {
  if (r.dryRun) return dryRunReport(r);
  const lines = [...originalSummary(r), '', ...targetTable(r)];
  const rate = r.seconds > 0 ? (r.bytes * 8) / r.seconds / 1e6 : 0;
  lines.push(
    `total: ${r.entries} entries, ${r.files} files ${r.interrupted ? 'begun' : 'sent'} (${human(r.bytes)}${r.packed?.packs ? `; ${r.packed.files} small ones in ${r.packed.packs} pack${r.packed.packs === 1 ? '' : 's'}` : ''}), ${r.pagesSent} pages + ${r.pagesResent} re-sent (${pct(r.pagesResent, r.pagesSent)}%), ` +
      `${r.seconds.toFixed(1)} s, ${rate.toFixed(1)} Mbit/s`,
  );
  if (r.pagesResent) {
    const rebuilt = r.targets.reduce((a, t) => a + (t.packets?.rebuilt ?? 0), 0);
    lines.push(`repair: ${r.pagesResent - r.parityPages} pages re-sent, ${r.parityPages} parity pages; targets rebuilt ${rebuilt} lost pages from parity` +
      (r.pagesChecked ? `; ${r.pagesChecked} of these pages went out during the first pass (checkpoints)` : ''));
  }
  const h = r.rate.history;
  lines.push(r.rate.adaptive
    ? `rate: found from feedback, ${(h[0] / 1e6).toFixed(1)}${r.rate.cached ? ' (the last push\'s)' : ''} -> ${(h[h.length - 1] / 1e6).toFixed(1)} Mbit/s (${r.rate.probe ? `probe train ${(r.rate.probe / 1e6).toFixed(1)} Mbit/s at ${r.rate.probed} targets, ` : ''}peak ${(Math.max(...h) / 1e6).toFixed(1)}, cap ${(r.rate.max / 1e6).toFixed(1)}, ${h.length - 1} changes)`
    : `rate: fixed at ${(h[0] / 1e6).toFixed(1)} Mbit/s (--rate)`);
  // (the time this process was stopped is no late wake-up of the sender's)
  const paused = r.pausedSeconds ?? 0;
  lines.push(`pacing: line time unused ${Math.max(0, r.stats.lateNs / 1e9 - paused).toFixed(2)} s with pages queued (the sender woke late or its socket was full), ` +
    `${(r.stats.idleNs / 1e9).toFixed(2)} s with none queued` + (paused ? `; this process did not run for ${paused.toFixed(1)} s (stopped or suspended)` : ''));
  const fb = r.targets.reduce((a, t) => a + t.feedback, 0);
  const byChannel = r.targets.filter((t) => (t.answersByChannel ?? 0) > 0);
  const flows = r.files + Math.max(1, r.segments);
  lines.push(`feedback: ${fb} packets from ${r.targets.length} targets (${(fb / Math.max(1, r.targets.length) / flows).toFixed(2)} per target per file); ` +
    `control from the master: ${r.stats.ctlSent} packets (${(r.stats.ctlSent / flows).toFixed(2)} per file)` +
    (byChannel.length ? `; ${byChannel.reduce((a, t) => a + (t.answersByChannel ?? 0), 0)} of the packets came over the channels of ${byChannel.length} ` +
      `target${byChannel.length === 1 ? '' : 's'} whose UDP did not reach this machine (open its UDP port -P minus 1)` : ''));
  lines.push(usageLine(r));
  const ok = r.targets.filter((t) => t.state === 'OK').length;
  const groups = failureGroups(r.targets);
  if (groups.length) lines.push('targets not OK, by cause:', ...groupLines(groups));
  lines.push(`${ok} of ${r.targets.length} targets OK`);
  if (r.interrupted) {
    const cut = r.targets.filter((t) => t.state === 'INTERRUPTED').length;
    lines.push(`interrupted by ${r.interrupted}: ${cut} targets had not finished (their temp files removed; files committed before stay)`);
  }
  if (r.changed.length) lines.push(`changed or deleted on the master during the send: ${r.changed.join(', ')}`);
  const d = droppedPackets(r);
  if (d.badAuth || d.badFormat) {
    lines.push(`dropped packets (master and targets): ${d.badAuth} failed authentication (forged, or another session's), ${d.badFormat} malformed`);
  }
  if (verbose >= 1) {
    const all = r.targets.flatMap((t) => t.rttUs);
    if (all.length) {
      lines.push('', `rtt histogram (OPEN acknowledgements from all targets, ${all.length} samples)`, 'msec counts', '---- --------');
      for (const b of msHistogram(all)) lines.push(`${String(b.ms).padStart(4)} ${b.count}`);
    }
  }
  return lines.join('\n');
}

/** CPU seconds (all threads, user + system) and peak RSS of the master and the catchers, per GB of file data. */
export function usageLine(r: PushReport): string {
  const gb = r.bytes / 1e9;
  // and per entry of the tree, where it has many (a tree's cost is per file, not per byte)
  const perEntry = (sec: number): string => (r.entries >= 1000 ? `, ${Math.round((sec * 1e6) / r.entries)} us/entry` : '');
  const perGb = (sec: number, g: number): string => {
    const parts = (g >= 0.01 ? `${(sec / g).toFixed(1)} s/GB` : '') + perEntry(sec);
    return parts ? ` (${parts.replace(/^, /, '')})` : '';
  };
  const mine = r.usage.cpuUser + r.usage.cpuSystem;
  let line = `cpu: master ${mine.toFixed(2)} s${perGb(mine, gb)}`;
  const ts = r.targets.filter((t) => t.usage);
  if (ts.length) {
    const cpu = ts.map((t) => t.usage!.cpuUser + t.usage!.cpuSystem).sort((a, b) => a - b);
    const med = cpu[Math.floor(cpu.length / 2)];
    const medGb = ts.map((t) => t.bytesSent).sort((a, b) => a - b)[Math.floor(ts.length / 2)] / 1e9;
    line += `, targets median ${med.toFixed(2)} s${perGb(med, medGb)}, max ${cpu[cpu.length - 1].toFixed(2)} s`;
  }
  line += `; peak RSS master ${mib(r.usage.maxRssKiB)}`;
  if (ts.length) line += `, targets max ${mib(Math.max(...ts.map((t) => t.usage!.maxRssKiB)))}`;
  return line;
}

function mib(kib: number): string {
  return `${(kib / 1024).toFixed(0)} MiB`;
}

/** Datagrams dropped unread, summed over the master and every target that reported. */
export function droppedPackets(r: PushReport): { badAuth: number; badFormat: number } {
  const sum = { badAuth: r.stats.badAuth, badFormat: r.stats.badFormat };
  for (const t of r.targets) {
    if (!t.packets) continue;
    sum.badAuth += t.packets.badAuth;
    sum.badFormat += t.packets.badFormat;
  }
  return sum;
}

/** The exit status of an interrupted push (rsync's for SIGINT). */
export const EXIT_INTERRUPTED = 20;
/** The exit status when the only shortfall is source entries the master could not read (rsync's "partial transfer due to error"). */
export const EXIT_UNREADABLE = 23;

/**
 * Exit status: 20 interrupted; 3 some target unreachable or dropped; 2 some
 * target lacks some entry; 23 every target has everything but what the
 * master could not read; 0 all OK.
 */
export function exitCode(r: PushReport): number {
  if (r.interrupted) return EXIT_INTERRUPTED;
  if (r.quit || r.targets.some((t) => t.state === 'DROPPED' || t.state === 'UNREACHABLE')) return 3;
  if (r.targets.some((t) => t.state !== 'OK') || r.changed.length) return 2;
  if (r.unreadable.length) return EXIT_UNREADABLE;
  return 0;
}
