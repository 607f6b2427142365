// The rate the last push to the same targets settled at, kept for the next
// push to start from (the rate control finds it anew from there, up or
// down), and whether that push found the bottleneck (else the rate is only
// what it reached, and the next push goes on doubling from it): a JSON file in the user's cache directory (XDG_CACHE_HOME, else
// ~/.cache), keyed by a hash of the group and the sorted target list. A
// cache that cannot be read or written is no cache: nothing fails for it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MAX_AGE_MS = 30 * 24 * 3600 * 1000;
const MAX_ENTRIES = 200;

type Cache = Record<string, { bps: number; at: number; found?: boolean }>;

export interface Kept { bps: number; found: boolean }

function file(): string {
  const dir = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || os.homedir(), '.cache');
  return path.join(dir, 'mrsync', 'rates.json');
}

export function rateKey(group: string, ifname: string, targets: string[]): string {
  return crypto.createHash('sha256').update([group, ifname, ...[...targets].sort()].join('\n')).digest('hex').slice(0, 32);
}

function load(): Cache {
  try {
    const c = JSON.parse(fs.readFileSync(file(), 'utf8')) as Cache;
    return c && typeof c === 'object' ? c : {};
  } catch {
    return {};
  }
}

/** The rate (bits/s) the last push under key settled at, if known and recent. */
export function cachedRate(key: string, now = Date.now()): Kept | null {
  const e = load()[key];
  return e && typeof e.bps === 'number' && e.bps > 0 && now - e.at < MAX_AGE_MS ? { bps: e.bps, found: e.found === true } : null;
}

/** Keep bps for key (the oldest entries go beyond MAX_ENTRIES); written whole (temp file, rename). */
export function saveRate(key: string, kept: Kept, now = Date.now()): void {
  try {
    const c = load();
    c[key] = { bps: Math.round(kept.bps), at: now, found: kept.found };
    const keep = Object.entries(c).sort((a, b) => b[1].at - a[1].at).slice(0, MAX_ENTRIES);
    const f = file();
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
    const tmp = `${f}.${process.pid}.tmp`;
    fs.rmSync(tmp, { force: true });
    fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(keep)), { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, f);
  } catch { /* no cache */ }
}
