// --status-file: the facts of the final report as one JSON document, for
// scripts and monitoring, written atomically (temp file + rename).
// The shape is stable: fields are only ever added. Documented in README.md.
import fs from 'node:fs';
import path from 'node:path';
import { PushReport } from '../master/summary';
import { droppedPackets } from './report';
import { UserError } from '../errors';

export const STATUS_VERSION = 1;

export interface StatusDoc {
  version: 1;
  session: string;
  started: string;      // ISO 8601
  seconds: number;
  exitCode: number;
  source: string;
  target: string;
  totals: {
    entries: number; files: number; bytes: number; pages: number; pagesResent: number; bytesResent: number;
    resentPercent: number; targets: number; ok: number; failed: number; dropped: number; unreachable: number;
    parityPages: number; // of pagesResent: parity pages (each repairs a different lost page at each target)
    packedFiles: number; // of files: small ones sent in packs (one flow for many)
    packs: number;
  };
  targets: Array<{
    host: string;
    state: 'OK' | 'FAILED' | 'DROPPED' | 'UNREACHABLE' | 'INTERRUPTED';
    filesSent: number; bytesSent: number; needed: number;
    missingPages: number; missingPercent: number;
    slowestFile: { path: string; seconds: number } | null;
    error: string | null;
    errorCode: string | null; // why it is out of the run (errors.ts FAILURE_CODES), if it is
    failedFiles: Array<{ path: string; error: string; code: string }>; // code: errors.ts FAILURE_CODES
    // otherSession: always 0 since wire version 3 (no session id on the wire:
    // another session's datagrams fail the tag and count in badAuth); kept,
    // as fields are only ever added
    droppedPackets: { badAuth: number; otherSession: number; malformed: number; duplicates: number } | null;
    feedbackPackets: number; // control datagrams it sent the master
    feedbackByChannel: number; // of them, sent over its remote shell (daemon connection): none of its UDP reached the master
    cpuSeconds: number | null; // its catcher's CPU, user + system, all threads (null: no result)
    maxRssKiB: number | null;  // its catcher's peak RSS
    rebuiltPages: number;    // lost pages it rebuilt from parity pages
    slow: boolean;           // set aside as much slower than the others; caught up after them
    deleted: number;   // entries removed by --delete (would be, with -n)
    backedUp: number;  // files kept by -b (would be, with -n)
    itemized?: string[]; // -n only: the itemized changes
  }>;
  dryRun: boolean;
  changedDuringSend: string[];
  unreadable: Array<{ path: string; error: string }>; // source entries the master could not read (exit 23)
  interrupted: string | null;  // the signal that interrupted the push (exit 20)
  droppedPackets: { badAuth: number; otherSession: number; malformed: number };
  master: { cpuSeconds: number; cpuUserSeconds: number; cpuSystemSeconds: number; maxRssKiB: number }; // the master process (all threads)
}

export function statusDoc(r: PushReport, exitCode: number, source: string, target: string): StatusDoc {
  const pct = (n: number): number => (r.pagesSent ? Math.round((10000 * n) / r.pagesSent) / 100 : 0);
  const count = (s: string): number => r.targets.filter((t) => t.state === s).length;
  return {
    version: STATUS_VERSION,
    session: r.session,
    started: new Date(r.started).toISOString(),
    seconds: Math.round(r.seconds * 1000) / 1000,
    exitCode, source, target,
    totals: {
      entries: r.entries, files: r.files, bytes: r.bytes, pages: r.pagesSent, pagesResent: r.pagesResent,
      bytesResent: r.pagesResent * r.pageSize, resentPercent: pct(r.pagesResent), parityPages: r.parityPages,
      packedFiles: r.packed?.files ?? 0, packs: r.packed?.packs ?? 0, targets: r.targets.length,
      ok: count('OK'), failed: count('FAILED'), dropped: count('DROPPED'), unreachable: count('UNREACHABLE'),
    },
    targets: r.targets.map((t) => ({
      host: t.host, state: t.state, filesSent: t.filesSent, bytesSent: t.bytesSent, needed: t.needed,
      missingPages: t.missingPages, missingPercent: pct(t.missingPages),
      slowestFile: t.slowest ? { path: t.slowest.path, seconds: Math.round(t.slowest.seconds * 1000) / 1000 } : null,
      error: t.error ?? null, errorCode: t.errorCode ?? null, failedFiles: t.failures,
      droppedPackets: t.packets
        ? { badAuth: t.packets.badAuth, otherSession: 0, malformed: t.packets.badFormat, duplicates: t.packets.duplicates }
        : null,
      feedbackPackets: t.feedback,
      feedbackByChannel: t.answersByChannel ?? 0,
      cpuSeconds: t.usage ? round3(t.usage.cpuUser + t.usage.cpuSystem) : null,
      maxRssKiB: t.usage?.maxRssKiB ?? null,
      rebuiltPages: t.packets?.rebuilt ?? 0,
      slow: t.slow,
      deleted: t.local?.deleted ?? 0,
      backedUp: t.local?.backedUp ?? 0,
      ...(r.dryRun ? { itemized: t.items ?? [] } : {}),
    })),
    dryRun: r.dryRun,
    changedDuringSend: r.changed,
    unreadable: r.unreadable,
    interrupted: r.interrupted,
    master: { cpuSeconds: round3(r.usage.cpuUser + r.usage.cpuSystem), cpuUserSeconds: round3(r.usage.cpuUser), cpuSystemSeconds: round3(r.usage.cpuSystem), maxRssKiB: r.usage.maxRssKiB },
    droppedPackets: (({ badAuth, badFormat }) => ({ badAuth, otherSession: 0, malformed: badFormat }))(droppedPackets(r)),
  };
}

/** Where a symlink (or a chain of them) points; file itself otherwise (also when it does not exist yet). */
export function realTarget(file: string): string {
  for (let i = 0; i < 40; i++) {
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!st?.isSymbolicLink()) return file;
    file = path.resolve(path.dirname(file), fs.readlinkSync(file));
  }
  throw new UserError(`--status-file: too many levels of symbolic links`);
}

export function writeStatusFile(file: string, doc: StatusDoc): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o644 });
  fs.renameSync(tmp, file);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
