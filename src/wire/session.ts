// The session header the master hands each catcher over the remote shell's
// stdin, and the line protocol both ways on that channel.

import { RuleSpec } from './filter';
import { PACKET_OVERHEAD } from '../native';
import { pathProblem } from './paths';

/** How a target is brought in line with the source beyond the copy itself (rsync's --delete, -b, filters, -c, -n). */
export interface SyncParams {
  delete: boolean;
  backup: { suffix: string; dir: string | null } | null; // dir: relative to dst, or absolute
  filters: RuleSpec[];
  checksum: boolean;
  dryRun: boolean;
}

/**
 * The session header's version, the protocol's: a catcher of another mrsync
 * version refuses the session with a clear error instead of misreading it.
 * 2: wire version 3. 3: the master's address, its signing key and the
 * manifest segments' hashes come over the channel; files' hashes in signed
 * Sums datagrams; OPEN and EOF carry no file metadata. 4: a target's rate
 * report (Stat) carries its clock. 5: targets answer many files in one
 * Acks datagram. 6: small files go in packs (pack.ts).
 */
export const SESSION_VERSION = 6;

/** A catcher's answer to a session header of another version. */
export function versionProblem(o: Record<string, unknown>, prog: string): string | null {
  if (o.v === SESSION_VERSION) return null;
  return `session: the master speaks protocol ${typeof o.v === 'number' ? o.v : '?'}, this ${prog} ${SESSION_VERSION} (install the same mrsync version on the master and every target)`;
}

export interface SessionParams {
  v: typeof SESSION_VERSION;
  session: number;     // u32 session id
  key: string;         // hex, 32 bytes
  sender: number;      // this target's sender id (1..65535)
  host: string;        // how the master names this target (for messages)
  family: 4 | 6;
  group: string;
  port: number;
  ttl: number;
  loopback: boolean;
  pageSize: number;
  dst: string;         // base64 of the destination root bytes
  removeFirst: boolean; // -X
  encrypt?: boolean;    // AES-256-GCM payloads
  confine?: string;     // base64 of a daemon's --root: dst is then a path inside it (set by the daemon, not the master)
  verbose: number;
  sync?: SyncParams;
  statMs?: number;     // interval of the catcher's rate reports (the master spreads them out for many targets)
  master: string;      // the master's address as its datagrams leave it: where feedback goes (never learned from datagrams)
  masterPort: number;  // and its port
  signKey: string;     // hex of the master's Ed25519 public key: Sums and Abort are signed with it (signing.ts)
}

/** Lines on the catcher's stdout start with this tag; anything else (a login banner) is ignored. */
export const LINE_TAG = '@mrsync ';

export type CatcherLine =
  // files: how many it can receive at once (its descriptors: three per file in flight);
  // here: it runs on the master's own host (the master's address is one of its), so the master loops its multicast back;
  // place: its machine and destination directory, hashed (catcher.ts place): two targets with one are one;
  // router: the router it reaches the master through (options.ts routerToward), if not on one of its subnets
  | { t: 'ready'; files?: number; here?: boolean; place?: string; router?: string }
  // one per manifest segment, in order: bit j of bitmap (hex) = entry first + j needs its data
  | { t: 'needs'; seg: number; first: number; bitmap: string; count: number; local: LocalCounts }
  | { t: 'log'; level: 'warn' | 'error' | 'info'; msg: string }
  | { t: 'fatal'; msg: string }
  // the master's datagrams reach it (it says so once, at the first): where none of its answers reach the master, those are what get lost
  | { t: 'heard' }
  | { t: 'train'; bps: number; n: number } // the rate the master's probe train came through at (train.ts; 0: too few arrived), n datagrams of it
  | { t: 'itemize'; lines: string[] } // -n: what this target would change, rsync --itemize-changes style
  // an answer (a control datagram's type, object, index and payload, base64) sent over the channel, not by UDP: the master asked ('answers')
  | { t: 'answer'; type: number; object: number; index: number; p?: string }
  // (from a daemon, after its session's catcher ended: how, and its last stderr lines, which go to the daemon's log)
  | { t: 'exit'; code: number | null; signal: string | null; stderr: string }
  | { t: 'result'; ok: boolean; failed: Array<{ entry: number; error: string; code?: string }>; local: LocalCounts; packets?: PacketCounts; usage?: Usage };

/** CPU seconds (all threads) and peak RSS of a process, at the end of its run. */
export interface Usage { cpuUser: number; cpuSystem: number; maxRssKiB: number }

export function usageNow(): Usage {
  const r = process.resourceUsage();
  return { cpuUser: r.userCPUTime / 1e6, cpuSystem: r.systemCPUTime / 1e6, maxRssKiB: r.maxRSS };
}

/** Datagrams a catcher dropped, by reason, and duplicates it ignored. */
export interface PacketCounts { badAuth: number; badFormat: number; duplicates: number; rebuilt?: number }

export interface LocalCounts {
  dirs: number; symlinks: number; links: number; empty: number; meta: number; kept: number; failed: number;
  deleted?: number; backedUp?: number;
}

export type MasterLine =
  // keep: directory entries listed without all they hold (the master could not read some): --delete leaves them be
  | { t: 'finish'; keep?: number[] }
  // manifest segment k's size and SHA-256 (hex), before its multicast OPEN: only the master can say what it holds
  | { t: 'segment'; k: number; size: number; hash: string }
  // none of the catcher's answers by UDP reach the master (its firewall): send them over the channel ('answer' lines)
  | { t: 'answers'; via: 'channel' };

/**
 * How often a catcher reports in its first two seconds of data (the rate's
 * startup), by its usual interval statMs: every 25 ms where that is 50 ms (a
 * few targets: the startup doubles every 50 ms), every 50 ms with more
 * (their reports would crowd the master). The master judges the startup by
 * the same rule.
 */
export function earlyStatMs(statMs: number): number {
  return statMs <= 50 ? 25 : 50;
}

/** A header field that must be a whole number in [lo, hi] (the catcher refuses the session otherwise). */
export function checkInt(o: Record<string, unknown>, k: string, lo: number, hi: number): void {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new Error(`session: bad ${k}`);
}

export function validateSession(x: unknown): SessionParams {
  const o = x as Record<string, unknown>;
  const num = (k: string, lo: number, hi: number): void => checkInt(o, k, lo, hi);
  if (!o || typeof o !== 'object') throw new Error('session: bad header');
  const vp = versionProblem(o, 'multicatcher');
  if (vp) throw new Error(vp);
  num('session', 0, 0xffffffff);
  num('sender', 1, 0xffff);
  num('port', 1, 65535);
  num('ttl', 0, 255);
  num('pageSize', 64, 65507 - PACKET_OVERHEAD);
  num('verbose', 0, 2);
  num('masterPort', 1, 65535);
  if (o.family !== 4 && o.family !== 6) throw new Error('session: bad family');
  for (const k of ['key', 'group', 'dst', 'host', 'master']) if (typeof o[k] !== 'string') throw new Error(`session: bad ${k}`);
  if (typeof o.signKey !== 'string' || !/^[0-9a-f]{64}$/.test(o.signKey)) throw new Error('session: bad signKey');
  if (!/^[0-9a-f]{64}$/.test(o.key as string)) throw new Error('session: bad key');
  if (o.encrypt !== undefined && typeof o.encrypt !== 'boolean') throw new Error('session: bad encrypt');
  if (o.confine !== undefined && typeof o.confine !== 'string') throw new Error('session: bad confine');
  if (o.sync !== undefined) validateSync(o.sync);
  if (o.confine !== undefined) {
    const why = confinedBackupProblem(o.sync);
    if (why) throw new Error(`session: ${why}`);
  }
  return o as unknown as SessionParams;
}

function validateSync(x: unknown): void {
  const s = x as Record<string, unknown>;
  const bad = (k: string): never => { throw new Error(`session: bad sync.${k}`); };
  if (!s || typeof s !== 'object') bad('');
  for (const k of ['delete', 'checksum', 'dryRun']) if (typeof s[k] !== 'boolean') bad(k);
  if (!Array.isArray(s.filters) || !s.filters.every((r) => r && typeof r === 'object' && typeof r.include === 'boolean' && typeof r.pattern === 'string')) bad('filters');
  const b = s.backup as Record<string, unknown> | null;
  if (b !== null && (typeof b !== 'object' || typeof b.suffix !== 'string' || b.suffix.includes('/') || b.suffix.includes('\0') || (b.dir !== null && typeof b.dir !== 'string'))) bad('backup');
  // a relative backup directory is a path inside the target tree (absolute ones only without a daemon's root)
  if (b && typeof b.dir === 'string' && (b.dir.includes('\0') || (!b.dir.startsWith('/') && pathProblem(Buffer.from(b.dir))))) bad('backup');
}

/**
 * Under a daemon's root every path from the master resolves beneath it: a
 * backup directory too. Absolute, or leaving the tree: the reason; else null.
 */
export function confinedBackupProblem(sync: unknown): string | null {
  const b = (sync as { backup?: { dir?: unknown } } | undefined)?.backup;
  if (!b || b.dir === null || b.dir === undefined) return null;
  if (typeof b.dir !== 'string') return 'bad backup directory';
  const why = b.dir.startsWith('/') ? 'absolute' : pathProblem(Buffer.from(b.dir));
  return why ? `backup directory ${b.dir} is not a path inside the daemon's root (${why})` : null;
}

