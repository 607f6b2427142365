// rttcatcher: joins the group and answers every probe at once from the
// native loop (echoType), so the round trip measures the network. Exits when
// stdin (the remote shell channel) closes.
import readline from 'node:readline';
import { emit } from '../catcher';
import { NativePageLoop, PACKET_OVERHEAD, native } from '../native';
import { PROBE, validateRttSession } from './session';

export function rttCatcherMain(): void {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  let loop: NativePageLoop | null = null;
  const bye = (code: number): never => {
    loop?.stop();
    process.exit(code);
  };
  const timer = setTimeout(() => { emit({ t: 'fatal', msg: 'no session header on stdin within 60 s' }); bye(2); }, 60_000);
  rl.once('line', (line) => {
    clearTimeout(timer);
    try {
      const p = validateRttSession(JSON.parse(line));
      loop = new native.PageLoop({
        family: p.family, group: p.group, port: p.port, bindPort: p.port, ifname: '', ttl: p.ttl,
        loopback: p.loopback, join: true, key: Buffer.from(p.key, 'hex'), session: p.session, sender: p.sender,
        pageSize: Math.max(64, p.datagram - PACKET_OVERHEAD), rateBps: 1e9, wireOverhead: p.family === 6 ? 62 : 42,
        rcvbuf: 8 << 20, sndbuf: 1 << 20, echoType: PROBE, napUs: 0,
      }, () => { /* probes are answered natively; nothing for JS */ });
      emit({ t: 'ready' });
    } catch (e) {
      emit({ t: 'fatal', msg: (e as Error).message });
      bye(2);
    }
  });
  rl.on('close', () => bye(0));
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => bye(1));
  process.stdout.on('error', () => bye(1));
}
