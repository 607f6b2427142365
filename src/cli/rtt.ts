// rtt: probe links with multicast pages and print round-trip histograms.
import fs from 'node:fs';
import { Command } from 'commander';
import { makeLogger } from '../operator/log';
import { interfaceMtu, parseIntIn, parseTargets } from '../options';
import { Prober, RttResult } from '../rtt/prober';
import { detailReport, originalReport, tableHeader, tableRow } from '../rtt/stats';
import { VERSION, addNetOptions, netOptions, runCommand } from './common';
import { UserError } from '../errors';

function program(): Command {
  const cmd = new Command('rtt')
    .description('Probe links with multicast pages answered by rttcatcher on each host; print round-trip histograms.')
    .requiredOption('-m, --machines <hosts>', 'host, host1,host2,..., or @file (one host per line, # comments)')
    .option('-n, --count <pages>', 'number of pages (probes) to send', '1000')
    .option('-s, --size <bytes>', 'UDP payload bytes of each probe, 44-65507 (default: fits the interface MTU)')
    .option('-i, --interval <ms>', 'send a probe every ms milliseconds (default: stop-and-wait, the next after all answered)')
    .option('-t, --timeout <ms>', 'a probe not answered within ms milliseconds is counted lost (never re-sent)', '400')
    .option('-p, --remote-path <path>', 'path of rttcatcher on the hosts (default: beside this rtt)')
    .option('-w, --wait <seconds>', 'how long to wait for the catchers to start', '30');
  return addNetOptions(cmd, { group: '239.255.67.200', port: '7900', catcher: 'rttcatcher' })
    .option('--json', 'print the figures as one JSON document instead', false)
    .version(VERSION, '-V, --version')
    .addHelpText('after', `
Examples:
  rtt -m node17 -n 1000                 stop-and-wait, 1000 pages of one MTU each
  rtt -m @racks.list -n 5000 -i 0.2     all hosts at once, a probe every 0.2 ms

The first block per host is the original rtt's report: missing pages and a
1-ms histogram (label m counts round trips in [m-1, m) ms). Then min, p50,
p90, p99, max in microseconds, loss, duplicates, out-of-order answers and a
log-spaced microsecond histogram. Exit status: 0 every host answered;
1 bad input; 3 some host could not be probed (unreachable, never answered).`)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`rtt: ${s.replace(/^error: /, '')}`) });
}

function hostsOf(v: string): string[] {
  if (v.startsWith('@')) {
    const f = v.slice(1);
    if (!fs.existsSync(f)) throw new UserError(`cannot read host list ${f}: ENOENT`);
    return parseTargets(f.includes('/') ? f : `./${f}`);
  }
  return parseTargets(v);
}

export function main(argv = process.argv): Promise<void> {
  return runCommand('rtt', program(), argv, async (raw) => {
    const net = netOptions(raw, raw.remotePath ? String(raw.remotePath) : undefined, 'rttcatcher');
    const { family, ifname } = net;
    const count = Number(raw.count);
    if (!/^\d+$/.test(String(raw.count)) || count <= 0 || count > 10_000_000) throw new UserError(`-n must be a whole number of pages from 1 to 10000000, got '${raw.count}'`);
    const size = raw.size !== undefined ? String(raw.size) : null;
    if (size !== null && (!/^\d+$/.test(size) || Number(size) < 44 || Number(size) > 65507)) {
      throw new UserError(`-s must be a datagram size from 44 to 65507 bytes (the UDP maximum), got '${size}'`);
    }
    const datagram = size !== null ? Number(size) : Math.min(interfaceMtu(ifname), 65535) - (family === 6 ? 48 : 28);
    let intervalMs: number | null = null;
    if (raw.interval !== undefined) {
      intervalMs = Number(raw.interval);
      if (!Number.isFinite(intervalMs) || intervalMs < 0 || intervalMs > 60000) throw new UserError(`-i must be milliseconds from 0 to 60000, got '${raw.interval}'`);
    }
    const log = makeLogger(net.verbose, 'rtt');
    const prober = new Prober({
      ...net,
      hosts: hostsOf(String(raw.machines)), count, datagram, intervalMs,
      timeoutMs: parseIntIn('-t', String(raw.timeout), 1, 60000),
      waitSec: parseIntIn('-w', String(raw.wait), 1, 3600),
    }, log);
    const r = await prober.run();
    process.stdout.write(raw.json ? `${JSON.stringify(toJson(r, datagram), null, 2)}\n` : formatRtt(r));
    return r.failed.length ? 3 : 0;
  });
}

export function formatRtt(r: RttResult): string {
  const out: string[] = [];
  const several = r.figures.length + r.failed.length > 1;
  if (several) {
    const w = Math.max(4, ...r.figures.map((f) => f.host.length), ...r.failed.map((f) => f.host.length));
    out.push(tableHeader(w));
    for (const f of r.figures) out.push(tableRow(f, w));
    for (const f of r.failed) out.push(`${f.host.padEnd(w)} FAILED: ${f.error}`);
    out.push('');
  }
  for (const f of r.figures) {
    if (several) out.push(`== ${f.host} ==`);
    out.push(originalReport(f), '', detailReport(f), '');
  }
  if (!several) for (const f of r.failed) out.push(`${f.host}: FAILED: ${f.error}`);
  return out.join('\n') + '\n';
}

function toJson(r: RttResult, datagram: number): object {
  return { datagramBytes: datagram, seconds: r.seconds, hosts: r.figures, failed: r.failed };
}

// the program itself (bin/rtt runs its bundle): importing this module runs it
void main();
