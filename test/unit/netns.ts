// The native loop's tests run their child half in a private network
// namespace (unshare -n) with multicast on lo: nothing leaves this machine.
// Needs root; without it the tests are skipped with this reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export const NETNS_SKIP: string | false = process.getuid?.() === 0 ? false : 'needs root for unshare -n';

/** Run `node file --child` in a fresh network namespace; its last stdout line, parsed as JSON. */
export function childInNetns(file: string, timeoutMs: number): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = spawnSync('unshare', ['-n', 'sh', '-c',
    `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "${process.execPath}" "${file}" --child`],
  { encoding: 'utf8', timeout: timeoutMs });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
