// Parsing and checking of option values shared by the command-line tools.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { PACKET_OVERHEAD, native } from './native';
import { UserError } from './errors';

export function parseIntIn(name: string, v: string, lo: number, hi: number): number {
  if (!/^\d+$/.test(v.trim())) throw new UserError(`${name} must be a whole number, got '${v}'`);
  const n = Number(v);
  if (n < lo || n > hi) throw new UserError(`${name} must be between ${lo} and ${hi}, got ${v}`);
  return n;
}

/** Bits per second: 800000, 500k, 100m, 1.5g (powers of 1000). */
export function parseRate(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)(?:bit\/?s|bps)?$/i.exec(v.trim());
  if (!m) throw new UserError(`${name} must be a rate in bits per second like 100m or 1.5g, got '${v}'`);
  const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Math.round(Number(m[1]) * mult);
  if (n < 8000 || n > 100e9) throw new UserError(`${name} must be between 8k and 100g bits per second, got '${v}'`);
  return n;
}

export interface GroupAddr { family: 4 | 6; group: string }

export function parseGroup(v: string): GroupAddr {
  const fam = net.isIP(v);
  if (fam === 4) {
    const first = Number(v.split('.')[0]);
    if (first < 224 || first > 239) throw new UserError(`-A ${v} is not an IPv4 multicast group (224.0.0.0/4; use 239.x.x.x on a LAN)`);
    return { family: 4, group: v };
  }
  if (fam === 6) {
    if (!/^ff[0-9a-f]{2}:/i.test(v)) throw new UserError(`-A ${v} is not an IPv6 multicast group (ff00::/8)`);
    return { family: 6, group: v };
  }
  throw new UserError(`-A '${v}' is not an IP address`);
}

/** The interface of this machine that holds address (as os.networkInterfaces writes it), or ''. */
function interfaceHolding(address: string): string {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (addrs?.some((a) => a.address === address)) return name;
  }
  return '';
}

/** -I takes an interface name or one of its addresses; returns the name. */
export function resolveInterface(v: string): string {
  if (!v) return '';
  if (os.networkInterfaces()[v]) return v;
  const name = interfaceHolding(v);
  if (name) return name;
  throw new UserError(`-I ${v}: no such interface or interface address on this machine`);
}

/**
 * The interface a catcher joins the group on: the one this machine reaches
 * the master through (its route's source address, whose interface holds it),
 * not the one the routing table picks for the group. On a target with two
 * NICs, where the default route (or 224.0.0.0/4) is the management one's,
 * the group joined by route is joined where the master's datagrams do not
 * come. '' (join by route, as before) where no route or interface is found.
 */
export function interfaceToward(family: 4 | 6, master: string, port: number): string {
  let local: string;
  try {
    local = native.multicastSource(family, master, port, ''); // (any address: the source a datagram to it leaves from)
  } catch {
    return '';
  }
  return interfaceHolding(local);
}

/**
 * Whether address is one of this host's own: a catcher started on the
 * master's own host (a target list that names it) gets the master's
 * multicast only if the master loops it back, which it does from the
 * catcher's ready line on (push.ts, prober.ts), not for every push.
 */
export function isOwnAddress(address: string | undefined): boolean {
  return !!address && interfaceHolding(address.replace(/%.*$/, '').toLowerCase()) !== '';
}

/**
 * The router this host reaches address through (its main routing table's
 * best route has a gateway), or null: on a connected subnet, or not known
 * (not for one of this host's own addresses: the local table is not read).
 * A multicast with TTL 1 stops at the first router: a catcher whose master is
 * behind one says so, and a silent target's report names it (push.ts).
 */
export function routerToward(family: 4 | 6, address: string | undefined): string | null {
  if (!address || !net.isIP(address.replace(/%.*$/, ''))) return null;
  try {
    return routerIn(family, address, fs.readFileSync(family === 4 ? '/proc/net/route' : '/proc/net/ipv6_route', 'utf8'));
  } catch {
    return null;
  }
}

/** routerToward's reading of a routing table as /proc/net/route (IPv4) or /proc/net/ipv6_route prints it. */
export function routerIn(family: 4 | 6, address: string, table: string): string | null {
  if (family === 4) {
    const [a, b, c, d] = address.split('.').map(Number);
    const addr = (a | (b << 8) | (c << 16) | (d << 24)) >>> 0; // as /proc/net/route prints them (little-endian)
    let best: { bits: number; gw: number } | null = null;
    for (const line of table.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8 || !(Number.parseInt(f[3], 16) & 1)) continue; // RTF_UP
      const dest = Number.parseInt(f[1], 16) >>> 0, gw = Number.parseInt(f[2], 16) >>> 0, mask = Number.parseInt(f[7], 16) >>> 0;
      if (((addr & mask) >>> 0) !== dest) continue;
      let bits = 0;
      for (let m = mask; m; m >>>= 1) bits += m & 1;
      if (!best || bits > best.bits) best = { bits, gw };
    }
    if (!best || best.gw === 0) return null;
    return [best.gw & 255, (best.gw >>> 8) & 255, (best.gw >>> 16) & 255, best.gw >>> 24].join('.');
  }
  const hex = ipv6Hex(address.replace(/%.*$/, ''));
  if (hex === null || hex.startsWith('fe8')) return null; // link-local: on the link
  let best: { bits: number; gw: string } | null = null;
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !(Number.parseInt(f[8], 16) & 1)) continue; // RTF_UP
    const bits = Number.parseInt(f[1], 16);
    if (!prefixMatch(hex, f[0], bits) || (best && bits <= best.bits)) continue;
    best = { bits, gw: f[4] };
  }
  if (!best || /^0+$/.test(best.gw)) return null;
  return new URL(`http://[${best.gw.match(/.{4}/g)!.join(':')}]`).hostname.slice(1, -1); // (the URL parser writes it short)
}

/** An IPv6 address as 32 hex digits, or null. */
function ipv6Hex(a: string): string | null {
  if (net.isIPv6(a) === false) return null;
  const [head, tail] = a.includes('::') ? a.split('::') : [a, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  if (t.length && t[t.length - 1].includes('.') || h.length && h[h.length - 1].includes('.')) return null; // (an IPv4 tail: not ours)
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.length === 8 ? groups.map((g) => g.padStart(4, '0')).join('').toLowerCase() : null;
}

/** Whether the first bits of two 32-digit hex addresses are the same. */
function prefixMatch(a: string, b: string, bits: number): boolean {
  const whole = bits >> 2;
  if (a.slice(0, whole) !== b.slice(0, whole)) return false;
  const rest = bits & 3;
  if (!rest) return true;
  const m = (0xf << (4 - rest)) & 0xf;
  return (Number.parseInt(a[whole], 16) & m) === (Number.parseInt(b[whole], 16) & m);
}

/**
 * How often a catcher leaves and joins its group again (ms): a switch that
 * snoops IGMP (MLD) forgets a port whose host sent no membership report for
 * its membership interval (260 s by the standard's defaults), and with no
 * querier on the VLAN nothing asks the host for one: the push stops reaching
 * it mid-way. A join makes the kernel report at once. (MRSYNC_TEST_REJOIN_MS:
 * the tests' shorter interval.)
 */
export const REJOIN_MS = Number(process.env.MRSYNC_TEST_REJOIN_MS) || 60_000;

/** The MTU of interface ifname, or null where it cannot be read. */
function readMtu(ifname: string): number | null {
  if (!ifname || ifname.includes('/')) return null;
  try {
    return Number(fs.readFileSync(`/sys/class/net/${ifname}/mtu`, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

export function interfaceMtu(ifname: string): number {
  return readMtu(ifname) ?? 1500;
}

/**
 * Why a catcher joined on ifname cannot receive the master's datagrams of
 * udpPayload bytes, or null if they fit its MTU (or the MTU is not known):
 * the IP packet's size and the MTU, and what `fix` (the option that sizes
 * them: mrsync's --page-size, rtt's -s) would have to be at most. The master
 * sizes them to its own interface's MTU: a master with jumbo frames and
 * targets without them would otherwise send frames every target drops, and
 * each target be silent past -w.
 */
export function mtuProblem(family: 4 | 6, ifname: string, udpPayload: number, fix: { option: string; now: number }): string | null {
  const mtu = readMtu(ifname);
  const packet = udpPayload + (family === 6 ? 48 : 28);
  if (mtu === null || packet <= mtu) return null;
  return `the master's datagrams (${packet} bytes with their IP and UDP headers) do not fit this target's MTU (${mtu} on ${ifname}): ` +
    `${fix.option} ${Math.max(1, fix.now - (packet - mtu))} or less fits`;
}

/** The largest page whose datagram fits the MTU without IP fragmentation. */
export function defaultPageSize(family: 4 | 6, mtu: number): number {
  return Math.min(mtu, 65535) - (family === 6 ? 40 : 20) - 8 - PACKET_OVERHEAD;
}

export const MAX_PAGE = 65507 - PACKET_OVERHEAD;

/** A datagram's bytes on the wire beyond its UDP payload, as tbf counts them: Ethernet, IP and UDP headers. */
export function wireOverhead(family: 4 | 6): number {
  return family === 6 ? 62 : 42;
}
/** One data datagram of pageSize on the wire, in bits: its page, header and tag, and the Ethernet, IP and UDP headers. */
export function datagramBits(pageSize: number, family: 4 | 6): number {
  return (pageSize + PACKET_OVERHEAD + wireOverhead(family)) * 8;
}
/** Extra bytes per datagram with --encrypt: the AES-GCM nonce counter (native/wire.h kCtrLen). */
export const ENCRYPT_OVERHEAD = 8;

/** -m: a file (one host per line, # comments) if it exists or has a '/', else a comma list. */
/** Endings of a name that is meant as a file of hosts, not a host (-m targets.list, a file that is not there). */
const LIST_FILE = /\.(list|lst|txt|hosts|host|conf|cfg|csv|json|ya?ml|in|out)$/i;

/**
 * -m: a file of hosts (one per line, # comments), or host1,host2,... A name
 * is a file if it starts with @ (as rtt takes it; the @ is dropped), has a
 * '/', or is an existing file; a single name that is none of these but ends
 * like a file (targets.list) is refused as a file that is not there, rather
 * than tried as a host: a host named so is written with a comma after it
 * (targets.list,).
 */
export function parseTargets(v: string): string[] {
  let hosts: string[];
  const at = v.startsWith('@');
  if (at) v = v.slice(1);
  let st: fs.Stats | undefined;
  try {
    st = v ? fs.statSync(v, { throwIfNoEntry: false }) : undefined;
  } catch {
    st = undefined; // not a name of a file (a long host list: ENAMETOOLONG); @file and paths are read below
  }
  if (st?.isDirectory()) throw new UserError(`target list ${v} is a directory`);
  const isFile = at || v.includes('/') || st !== undefined;
  if (!isFile && !v.includes(',') && LIST_FILE.test(v)) {
    throw new UserError(`target list ${v}: no such file (a host named so: write "${v},")`);
  }
  if (isFile) {
    let text: string;
    try {
      text = fs.readFileSync(v, 'utf8');
    } catch (e) {
      throw new UserError(`cannot read target list ${v}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    hosts = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
    if (!hosts.length) throw new UserError(`target list ${v} names no hosts`);
  } else {
    hosts = v.split(',').map((h) => h.trim()).filter(Boolean);
    if (!hosts.length) throw new UserError('-m names no hosts');
  }
  for (const h of hosts) {
    if (!/^[A-Za-z0-9_.:@%[\]-]+$/.test(h) || h.startsWith('-')) throw new UserError(`bad host name '${h}' in -m`);
  }
  const dup = hosts.find((h, i) => hosts.indexOf(h) !== i);
  if (dup) throw new UserError(`host '${dup}' is listed twice in -m`);
  if (hosts.length > 65535) throw new UserError('at most 65535 targets');
  return hosts;
}

/** What mrsync and rtt share: the group, the interface, and how the catchers are started. */
export interface NetOptions {
  family: 4 | 6;
  group: string;
  port: number;
  ttl: number;
  loopback: boolean;
  ifname: string;
  rsh: string[];
  remotePath: string;
}
