// The daemon's front door (daemon.ts), in a private network namespace on lo
// (its sessions would start catchers; none must join a group on this
// machine's interfaces): what a host without the key can make it hold, how
// many sessions masters arriving together can start, and the paths a master
// holding the key may name. Needs root (unshare -n); skipped without.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { NETNS_SKIP, childInNetns } from './netns';
import { Daemon, MAX_PENDING_PER_PEER } from '../../src/channel/daemon';
import { PSK_TLS } from '../../src/channel/keyfile';
import { SESSION_VERSION, validateSession } from '../../src/wire/session';

const PSK = Buffer.alloc(32, 7);
/** The daemon's handshake timeout here: long enough to tell its per-peer bound from the timeout on a busy machine. */
const HANDSHAKE_MS = 1500;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A master holding the key: connects from localAddress, sends line, returns what the daemon wrote back before closing. */
function master(port: number, localAddress: string, line: string | null, holdMs = 3000): Promise<{ secure: boolean; text: string }> {
  return new Promise((resolve) => {
    let secure = false;
    let text = '';
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    const s = tls.connect({ socket, ...PSK_TLS, checkServerIdentity: () => undefined,
      pskCallback: () => ({ psk: PSK, identity: PSK_TLS.identity }) }, () => {
      secure = true;
      if (line !== null) s.write(line + '\n');
    });
    s.setEncoding('utf8');
    s.on('data', (d: string) => { text += d; });
    s.on('error', () => { /* close follows */ });
    const t = setTimeout(() => s.destroy(), holdMs);
    s.on('close', () => { clearTimeout(t); resolve({ secure, text }); });
  });
}

function rawConnect(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port, localAddress });
    c.on('error', () => { /* refused or reset: counted by the caller */ });
    c.once('connect', () => resolve(c));
    c.once('close', () => resolve(c));
  });
}

async function child(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-daemon-'));
  const logs: string[] = [];
  const out: Record<string, unknown> = {};
  const d = new Daemon({ root, psk: PSK, listen: '127.0.0.1', port: 0, maxSessions: 1, log: (m) => logs.push(m), handshakeTimeoutMs: HANDSHAKE_MS });
  await d.listen();
  try {
    // 1. a host without the key opens 2,000 connections and never speaks TLS
    const flood: net.Socket[] = [];
    for (let i = 0; i < 2000; i += 100) flood.push(...await Promise.all(Array.from({ length: 100 }, () => rawConnect(d.port, '127.0.0.2'))));
    // the daemon closes what is over its bound for one peer as it accepts them: on a busy machine that takes a
    // while after the last connect, but well within the handshake timeout (which would close them anyway)
    const stillOpen = (): number => flood.filter((c) => !c.destroyed && c.readyState === 'open').length;
    for (let waited = 0; waited < HANDSHAKE_MS / 2 && stillOpen() > MAX_PENDING_PER_PEER; waited += 25) await sleep(25);
    out.pendingDuringFlood = d.pendingHandshakes;
    out.floodOpen = stillOpen();
    // a master with the key, from another address, is served meanwhile (its header is refused for its path: no catcher starts)
    const m = await master(d.port, '127.0.0.3', JSON.stringify({ v: SESSION_VERSION, dst: Buffer.from('../x').toString('base64') }));
    out.masterDuringFlood = m;
    await sleep(HANDSHAKE_MS + 300); // past the handshake timeout: the stalled ones are closed
    out.floodOpenLater = flood.filter((c) => !c.destroyed && c.readyState === 'open').length;
    out.pendingLater = d.pendingHandshakes;
    out.refusalLines = logs.filter((l) => l.startsWith('refused a connection from 127.0.0.2')).length;
    for (const c of flood) c.destroy();

    // 2. --max-sessions 1: two masters arriving together, neither has sent its header yet: the second is refused
    const first = master(d.port, '127.0.0.4', null, 1500);
    await sleep(150);
    out.second = await master(d.port, '127.0.0.5', null, 1500);
    await first;

    // 3. a master with the key asks for backups outside the root: refused before any catcher starts
    await sleep(100);
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-outside-'));
    const hdr = { v: SESSION_VERSION, dst: Buffer.from('data').toString('base64'),
      sync: { delete: true, checksum: false, dryRun: false, filters: [], backup: { suffix: '', dir: outside } } };
    out.backupAbs = await master(d.port, '127.0.0.6', JSON.stringify(hdr));
    hdr.sync.backup.dir = '../escape';
    out.backupDotDot = await master(d.port, '127.0.0.6', JSON.stringify(hdr));
    out.outsideEntries = fs.readdirSync(outside).length;
    fs.rmSync(outside, { recursive: true, force: true });
  } finally {
    await d.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv.includes('--child')) {
  void child();
} else {
  test('daemon: a host without the key cannot exhaust it; sessions counted from the handshake; backup dirs confined', { skip: NETNS_SKIP }, () => {
    const out = childInNetns(__filename, 60_000);
    assert.ok((out.pendingDuringFlood as number) <= MAX_PENDING_PER_PEER, `pending handshakes ${out.pendingDuringFlood}`);
    assert.ok((out.floodOpen as number) <= MAX_PENDING_PER_PEER, `${out.floodOpen} idle connections held open`);
    assert.equal(out.masterDuringFlood.secure, true, 'the master with the key did not get through the flood');
    assert.match(out.masterDuringFlood.text, /not a path inside the daemon's root/);
    assert.equal(out.floodOpenLater, 0, 'connections without a handshake stay open past the timeout');
    assert.equal(out.pendingLater, 0);
    assert.ok((out.refusalLines as number) <= 3, `${out.refusalLines} log lines for one flooding address`);
    assert.equal(out.second.secure, true);
    assert.match(out.second.text, /daemon busy: 1 sessions running/);
    assert.match(out.backupAbs.text, /backup directory .* is not a path inside the daemon's root \(absolute\)/);
    assert.match(out.backupDotDot.text, /backup directory \.\.\/escape is not a path inside the daemon's root/);
    assert.equal(out.outsideEntries, 0);
  });

  test('a catcher under a daemon\'s root refuses a backup directory outside it, whatever the daemon let through', () => {
    const base = { v: SESSION_VERSION, session: 1, key: 'ab'.repeat(32), sender: 1, host: 'h', family: 4, group: '239.255.67.92', port: 8888, ttl: 1,
      master: '198.18.0.1', masterPort: 8887, signKey: 'cd'.repeat(32),
      loopback: false, pageSize: 1400, dst: Buffer.from('.').toString('base64'), removeFirst: false, verbose: 1 };
    const sync = (dir: string | null) => ({ delete: true, checksum: false, dryRun: false, filters: [], backup: { suffix: '', dir } });
    const confine = Buffer.from('/srv').toString('base64');
    assert.throws(() => validateSession({ ...base, confine, sync: sync('/etc/cron.d') }), /backup directory \/etc\/cron\.d is not a path inside the daemon's root \(absolute\)/);
    assert.throws(() => validateSession({ ...base, confine, sync: sync('a/../../b') }), /session: bad sync\.backup/);
    assert.doesNotThrow(() => validateSession({ ...base, confine, sync: sync('backups/old') }));
    assert.doesNotThrow(() => validateSession({ ...base, confine, sync: sync(null) }));
    // without a daemon's root (the remote shell: the master is the target's own root user), an absolute one is the user's choice
    assert.doesNotThrow(() => validateSession({ ...base, sync: sync('/var/backups/x') }));
  });
}
