// The rtt session header (first stdin line of rttcatcher) and probe types.
import net from 'node:net';
import { SESSION_VERSION, checkInt, versionProblem } from '../wire/session';

export const PROBE = 24;      // master -> all: payload = send stamp (8 bytes) + padding
export const PROBE_ACK = 25;  // catcher -> master, sent natively: payload = the stamp

export interface RttSession {
  v: typeof SESSION_VERSION;
  rtt: true;
  session: number;
  key: string;
  sender: number;
  host: string;
  family: 4 | 6;
  group: string;
  port: number;
  ttl: number;
  loopback: boolean;
  datagram: number; // UDP payload bytes of one probe
  master?: string;  // the master's address as its probes leave it: the catcher joins where it reaches it (options.ts interfaceToward)
}

export function validateRttSession(x: unknown): RttSession {
  const o = x as Record<string, unknown>;
  const int = (k: string, lo: number, hi: number): void => checkInt(o, k, lo, hi);

  if (!o || typeof o !== 'object' || o.rtt !== true) throw new Error('session: not an rtt session');
  const vp = versionProblem(o, 'rttcatcher');
  if (vp) throw new Error(vp);
  int('session', 0, 0xffffffff);
  int('sender', 1, 0xffff);
  int('port', 1, 65535);
  int('ttl', 0, 255);
  int('datagram', 44, 65507);
  if (o.family !== 4 && o.family !== 6) throw new Error('session: bad family');
  if (typeof o.group !== 'string' || typeof o.host !== 'string') throw new Error('session: bad group');
  if (typeof o.key !== 'string' || !/^[0-9a-f]{64}$/.test(o.key)) throw new Error('session: bad key');
  if (o.master !== undefined && (typeof o.master !== 'string' || net.isIP(o.master) === 0)) throw new Error('session: bad master');
  return o as unknown as RttSession;
}
