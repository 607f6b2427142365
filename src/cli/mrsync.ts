// mrsync: push a tree to many targets over reliable UDP multicast.
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { makeLogger } from '../log';
import { Push, PushOptions } from '../master';
import { ENCRYPT_OVERHEAD, MAX_PAGE, UserError, defaultPageSize, interfaceMtu, parseIntIn, parseRate, parseTargets } from '../options';
import { ProgressView } from '../progress';
import { exitCode, formatReport } from '../report';
import { statusDoc, writeStatusFile } from '../status';
import { Raw, VERSION, addNetOptions, netOptions, runCommand } from './common';
import { DAEMON_PORT } from './daemon-port';
import { readKeyFile } from '../keyfile';
import { pathProblem } from '../paths';

function program(): Command {
  const cmd = new Command('mrsync')
    .description('Push a file tree to many machines at once over reliable UDP multicast.')
    .requiredOption('-m, --machines <list>', 'targets: a file (one host per line, # comments) or host1,host2,...')
    .requiredOption('-s, --source <dir>', 'source directory on this machine')
    .option('-t, --target <dir>', 'destination directory on every target (default: same path as --source)')
    .option('--remote-path <path>', 'path of multicatcher on the targets (default: beside this mrsync)');
  return addNetOptions(cmd, { group: '239.255.67.92', port: '8888', catcher: 'multicatcher' })
    .option('-w, --wait <seconds>', 'ack-wait budget: a target silent this long is dropped', '60')
    .option('-q, --quit', 'quit at the first dropped target', false)
    .option('-X, --remove-first', 'remove each target file before writing its replacement (nearly full disks)', false)
    .option('--daemon', 'reach targets running multicatcher --daemon (TLS with --key-file) instead of through -r', false)
    .option('--key-file <file>', 'pre-shared key of the daemons, mode 0600 (with --daemon)')
    .option('--daemon-port <port>', 'TCP port of the daemons', DAEMON_PORT)
    .option('--encrypt', 'encrypt every page and command (AES-256-GCM under the session key), not only authenticate', false)
    .option('--page-size <bytes>', 'bytes of file data per datagram (default: fits the interface MTU)')
    .option('--rate <bits/s>', 'send rate in bits per second, k/m/g suffixes (1000-based)', '100m')
    .option('--status-file <file>', 'write the final report as JSON to FILE (atomically)')
    .option('--log-file <file>', 'append every event as a JSON line to FILE')
    .option('--progress-interval <seconds>', 'seconds between progress lines when stdout is not a terminal', '10')
    .addOption(new Option('--window <files>', 'files in flight at once').default('128'))
    .version(VERSION, '-V, --version')
    .addHelpText('after', `
Examples:
  mrsync -m targets.list -s /srv/data            push /srv/data to the same path on every host
  mrsync -m web1,web2,web3 -s /build/out -t /var/www --rate 500m
  mrsync --daemon --key-file /etc/mrsync/key -m targets.list -s /build/out -t www
                                                 push into www/ under each daemon's --root

Exit status: 0 every target holds an exact copy; 1 bad input; 2 some target
lacks some entry; 3 some target was unreachable or dropped; 4 internal error.`)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`mrsync: ${s.replace(/^error: /, '')}`) });
}

export function buildOptions(raw: Raw): PushOptions {
  const src = path.resolve(String(raw.source));
  let st: fs.Stats;
  try {
    st = fs.statSync(src);
  } catch (e) {
    throw new UserError(`source ${src}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new UserError(`source ${src} is not a directory`);
  try {
    fs.accessSync(src, fs.constants.R_OK | fs.constants.X_OK);
    fs.readdirSync(src);
  } catch (e) {
    throw new UserError(`source ${src} is not readable: ${(e as NodeJS.ErrnoException).code}`);
  }
  const daemon = raw.daemon ? {
    port: parseIntIn('--daemon-port', String(raw.daemonPort), 1, 65535),
    psk: raw.keyFile ? readKeyFile(String(raw.keyFile)) : (() => { throw new UserError('--daemon needs --key-file FILE'); })(),
  } : undefined;
  if (!daemon && raw.keyFile) throw new UserError('--key-file is for --daemon targets');
  const dst = daemon ? daemonTarget(raw.target === undefined ? '.' : String(raw.target)) : raw.target ? String(raw.target) : src;
  if (!dst || dst.includes('\0')) throw new UserError('bad --target');
  const net = netOptions(raw, raw.remotePath ? String(raw.remotePath) : undefined, 'multicatcher');
  const encrypt = Boolean(raw.encrypt);
  const sealing = encrypt ? ENCRYPT_OVERHEAD : 0; // the nonce counter rides in each datagram
  const pageSize = raw.pageSize !== undefined
    ? parseIntIn('--page-size', String(raw.pageSize), 512, MAX_PAGE - sealing)
    : defaultPageSize(net.family, interfaceMtu(net.ifname)) - sealing;
  return {
    ...net,
    targets: parseTargets(String(raw.machines)),
    src: Buffer.from(src),
    dst: Buffer.from(dst),
    pageSize,
    rateBps: parseRate('--rate', String(raw.rate)),
    waitSec: parseIntIn('-w', String(raw.wait), 1, 86400),
    quitOnDrop: Boolean(raw.quit),
    removeFirst: Boolean(raw.removeFirst),
    encrypt,
    daemon,
    window: parseIntIn('--window', String(raw.window), 1, 1024),
  };
}

/** With --daemon, -t is a path inside each daemon's --root ('/' or '.' is the root itself). */
function daemonTarget(t: string): string {
  const rel = t.split('/').filter((c) => c !== '' && c !== '.').join('/') || '.';
  const why = rel === '.' ? null : pathProblem(Buffer.from(rel));
  if (why) throw new UserError(`-t ${t}: with --daemon the target is a path inside each daemon's root (${why})`);
  return rel;
}

function checkWritableDir(file: string, opt: string): void {
  try {
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
  } catch {
    throw new UserError(`${opt} ${file}: directory ${path.dirname(file)} is not writable or does not exist`);
  }
}

export function main(argv = process.argv): Promise<void> {
  return runCommand('mrsync', program(), argv, async (raw) => {
    const o = buildOptions(raw);
    const interval = parseIntIn('--progress-interval', String(raw.progressInterval), 1, 3600);
    const statusFile = raw.statusFile ? path.resolve(String(raw.statusFile)) : null;
    if (statusFile) checkWritableDir(statusFile, '--status-file');
    const logFile = raw.logFile ? path.resolve(String(raw.logFile)) : undefined;
    if (logFile) checkWritableDir(logFile, '--log-file');
    const log = makeLogger(o.verbose, 'mrsync', logFile);
    const push = new Push(o, log);
    log.bind({ session: push.sessionId });
    log.info('push started', { source: o.src.toString(), target: o.dst.toString(), targets: o.targets.length });
    const progress = o.verbose >= 1 ? new ProgressView(() => push.snapshot(), Boolean(process.stdout.isTTY), interval * 1000) : null;
    progress?.start();
    let report;
    try {
      report = await push.run();
    } finally {
      progress?.stop();
    }
    const code = exitCode(report);
    log.info('push finished', { exitCode: code, seconds: report.seconds });
    if (o.verbose >= 1 || code !== 0) process.stdout.write(formatReport(report, o.verbose) + '\n');
    if (statusFile) writeStatusFile(statusFile, statusDoc(report, code, o.src.toString(), o.dst.toString()));
    return code;
  });
}
