// rttcatcher: joins the group and answers every probe at once from the
// native loop (echoType), so the round trip measures the network. Exits when
// stdin (the remote shell channel) closes.
import { emit, serveChannel } from '../channel/serve';
import { PACKET_OVERHEAD, openPageLoop } from '../native';
import { REJOIN_MS, interfaceToward, isOwnAddress, mtuProblem, wireOverhead } from '../options';
import { PROBE, validateRttSession } from './session';

export function rttCatcherMain(): void {
  serveChannel((header) => {
    const p = validateRttSession(header);
    const ifname = p.master ? interfaceToward(p.family, p.master, p.port - 1) : ''; // where the master's probes come in
    const tooBig = mtuProblem(p.family, ifname, p.datagram, { option: 'rtt -s', now: p.datagram });
    if (tooBig) throw new Error(tooBig);
    const loop = openPageLoop({
      family: p.family, group: p.group, port: p.port, bindPort: p.port, ttl: p.ttl, ifname,
      loopback: p.loopback, join: true, key: Buffer.from(p.key, 'hex'), sender: p.sender,
      pageSize: Math.max(64, p.datagram - PACKET_OVERHEAD), rateBps: 1e9, wireOverhead: wireOverhead(p.family),
      rcvbuf: 8 << 20, sndbuf: 1 << 20, echoType: PROBE, napUs: 0, rejoinMs: REJOIN_MS,
    }, () => { /* probes are answered natively; nothing for JS */ });
    emit({ t: 'ready', ...(isOwnAddress(p.master) ? { here: true } : {}) });
    // once the first probe is in, say so: where no answer reaches the master, it can tell its own port closed
    // (its firewall) from probes that do not get here
    const watch = setInterval(() => {
      if (loop.stats().ctlRecv > 0) { clearInterval(watch); emit({ t: 'heard' }); }
    }, 100);
    return { shutdown: () => { clearInterval(watch); loop.stop(); } };
  });
}
