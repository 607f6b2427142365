// mrsync: push a tree to many targets over reliable UDP multicast.
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { makeLogger } from '../operator/log';
import { Push, PushOptions } from '../master/push';
import { ENCRYPT_OVERHEAD, MAX_PAGE, defaultPageSize, interfaceMtu, parseIntIn, parseRate, parseTargets } from '../options';
import { ProgressView } from '../operator/progress';
import { EXIT_INTERRUPTED, exitCode, formatReport } from '../operator/report';
import { realTarget, statusDoc, writeStatusFile } from '../operator/status';
import { Raw, VERSION, addNetOptions, defaultRsh, errorExit, netOptions, refuseOptionValues, runCommand } from './common';
import { DAEMON_PORT } from './daemon-port';
import { readKeyFile } from '../channel/keyfile';
import { pathProblem } from '../wire/paths';
import { Filter, RuleSpec, rulesFromText } from '../wire/filter';
import { Selection } from '../wire/manifest';
import { filesFrom, globList, singleFile } from '../master/selection';
import { SyncParams } from '../wire/session';
import { UserError } from '../errors';
import { PACKAGE_ROOT } from '../native';
import { START } from '../master/rate';
import { InstallState, installAll } from '../master/install';
import { failureHint, groupFailed, groupLines } from '../operator/groups';

function program(rules: RuleSpec[]): Command {
  const rule = (include: boolean) => (pattern: string): RuleSpec[] => { rules.push({ include, pattern }); return rules; };
  const cmd = new Command('mrsync')
    .description('Push a file tree to many machines at once over reliable UDP multicast.')
    .requiredOption('-m, --machines <list>', 'targets: a file (one host per line, # comments) or host1,host2,...')
    .option('-s, --source <dir>', 'source directory on this machine (required but with --install)')
    .option('-t, --target <dir>', 'destination directory on every target (default: same path as --source)')
    .option('--remote-path <path>', 'path of multicatcher on the targets (default: beside this mrsync)');
  return addNetOptions(cmd, { group: '239.255.67.92', port: '8888', catcher: 'multicatcher' })
    .option('-w, --wait <seconds>', 'ack-wait budget: a target silent this long is dropped', '60')
    .option('-q, --quit', 'quit at the first dropped target', false)
    .option('--delete', 'remove what the source does not have from the targets (never what a filter excludes)', false)
    .option('-b, --backup', 'keep every replaced or deleted file: renamed with --suffix, or moved under --backup-dir', false)
    .option('-u, --suffix <suffix>', 'backup suffix (default: _mcast_bakMMDDhhmm at the push start; none with --backup-dir)')
    .option('--backup-dir <dir>', 'put backups under DIR (relative: inside -t on each target), mirroring the tree; implies -b')
    .option('--exclude <pattern>', 'leave out what matches PATTERN (rsync rules; repeatable; order counts)', rule(false))
    .option('--include <pattern>', 'do not leave out what matches PATTERN (first matching rule wins)', rule(true))
    .option('--exclude-from <file>', "rules from FILE: a pattern per line, or '- PAT' / '+ PAT'; # comments", (f: string) => {
      let text: string;
      try {
        text = fs.readFileSync(f, 'utf8');
      } catch (e) {
        throw new UserError(`--exclude-from ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      rules.push(...rulesFromText(text));
      return rules;
    })
    .option('-l, --list <globs>', 'send only these ls-style globs under -s, comma-separated (matched directories whole)')
    .option('--files-from <file>', "send only the paths listed in FILE ('-' for stdin), relative to -s or absolute under it")
    .option('--trim <prefix>', 'remove PREFIX from the front of every --files-from line')
    .option('-c, --checksum', 'decide what a target needs by SHA-256 of the content, not size and mtime', false)
    .option('-n, --dry-run', 'show per target what would be sent, replaced, deleted and backed up; change nothing', false)
    .option('-X, --remove-first', 'remove each target file before writing its replacement (nearly full disks)', false)
    .option('--daemon', 'reach targets running multicatcher --daemon (TLS with --key-file) instead of through -r', false)
    .option('--key-file <file>', 'pre-shared key of the daemons, mode 0600 (with --daemon)')
    .option('--daemon-port <port>', 'TCP port of the daemons', DAEMON_PORT)
    .option('--encrypt', 'encrypt every page and command (AES-256-GCM under the session key), not only authenticate', false)
    .option('--page-size <bytes>', 'bytes of file data per datagram (default: fits the interface MTU)')
    .option('--rate <bits/s>', 'fix the send rate, bits per second with k/m/g suffixes (1000-based); default: found from the targets\' feedback')
    .option('--max-rate <bits/s>', 'cap for the rate found from feedback (k/m/g suffixes; default: 1g)')
    .option('--no-parity', 'repair with plain re-sends only (default: parity pages where targets lost different pages)')
    .option('--status-file <file>', "write the final report as JSON to FILE (atomically); '-': to stdout (the report goes to stderr)")
    .option('--log-file <file>', 'append every event as a JSON line to FILE')
    .option('--progress-interval <seconds>', 'seconds between progress lines when stdout is not a terminal', '10')
    .addOption(new Option('--window <files>', 'files in flight at once').default('1024'))
    .option('--install', 'put this mrsync on every target (-m) through the remote shell, at the same path (Node.js 20+ needed there; targets that have this version are left alone)', false)
    .option('--fan-out <n>', 'remote shells at once for --install', '16')
    .version(VERSION, '-V, --version')
    .addHelpText('after', `
Examples:
  mrsync -m targets.list -s /srv/data            push /srv/data to the same path on every host
  mrsync -m web1,web2,web3 -s /build/out -t /var/www --rate 500m
  mrsync -m targets.list -s /srv/www --delete -b --exclude '*.tmp' -n   what a mirror would change
  mrsync --daemon --key-file /etc/mrsync/key -m targets.list -s /build/out -t www
                                                 push into www/ under each daemon's --root

Exit status: 0 every target holds an exact copy; 1 bad input; 2 some target
lacks some entry; 3 some target was unreachable or dropped; 4 internal error;
20 interrupted (SIGINT, SIGTERM, SIGHUP); 23 some source entries could not be
read (the rest was sent).`)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`mrsync: ${s.replace(/^error: /, '')}`) });
}

export function buildOptions(raw: Raw, rules: RuleSpec[] = []): PushOptions {
  if (raw.source === undefined) throw new UserError("required option '-s, --source <dir>' not specified");
  for (const [key, flag] of [['source', '-s'], ['target', '-t'], ['machines', '-m']] as const) {
    if (raw[key] === '') throw new UserError(`${flag} is empty (name a ${key === 'machines' ? 'file of hosts or host1,host2' : 'directory'})`);
    refuseOptionValues(raw, [[key, flag]]);
  }
  let src = path.resolve(String(raw.source));
  let st: fs.Stats;
  try {
    st = fs.statSync(src);
  } catch (e) {
    throw new UserError(`source ${src}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  let select: Selection | undefined;
  if (!st.isDirectory()) {
    if (!st.isFile() && !st.isSymbolicLink()) throw new UserError(`source ${src} is not a directory or a regular file`);
    if (raw.list || raw.filesFrom) throw new UserError('-l and --files-from need a directory as -s');
    const one = singleFile(src);
    src = one.src.toString();
    select = one.select;
  }
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
  if (daemon && raw.rsh !== defaultRsh()) throw new UserError('-r is for catchers started through a remote shell; --daemon reaches standing daemons over TLS');
  const dst = daemon ? daemonTarget(raw.target === undefined ? '.' : String(raw.target)) : raw.target ? String(raw.target) : src;
  if (!dst || dst.includes('\0')) throw new UserError('bad --target');
  const srcBuf = Buffer.from(src);
  if (raw.trim !== undefined && !raw.filesFrom) throw new UserError('--trim is for --files-from');
  if (raw.list && raw.filesFrom) throw new UserError('-l and --files-from cannot be used together');
  if (raw.list) select = globList(String(raw.list), srcBuf);
  if (raw.filesFrom) select = filesFrom(String(raw.filesFrom), srcBuf, raw.trim === undefined ? undefined : String(raw.trim));
  const filter = Filter.of(rules); // throws on a pattern that cannot parse
  const backup = backupOf(raw, Boolean(daemon));
  if (backup && raw.removeFirst) throw new UserError('-X cannot be combined with -b: a file removed first cannot be backed up (as in the original)');
  const net = netOptions(raw, raw.remotePath ? String(raw.remotePath) : undefined, 'multicatcher');
  const encrypt = Boolean(raw.encrypt);
  const sealing = encrypt ? ENCRYPT_OVERHEAD : 0; // the nonce counter rides in each datagram
  const pageSize = raw.pageSize !== undefined
    ? parseIntIn('--page-size', String(raw.pageSize), 512, MAX_PAGE - sealing)
    : defaultPageSize(net.family, interfaceMtu(net.ifname)) - sealing;
  return {
    ...net,
    targets: daemonHosts(parseTargets(String(raw.machines)), Boolean(daemon)),
    src: Buffer.from(src),
    dst: Buffer.from(dst),
    pageSize,
    ...rateOf(raw),
    waitSec: parseIntIn('-w', String(raw.wait), 1, 86400),
    quitOnDrop: Boolean(raw.quit),
    removeFirst: Boolean(raw.removeFirst),
    encrypt,
    parity: raw.parity !== false,
    daemon,
    select,
    sync: { delete: Boolean(raw.delete), backup, filters: filter.specs, checksum: Boolean(raw.checksum), dryRun: Boolean(raw.dryRun) },
    window: parseIntIn('--window', String(raw.window), 1, 4096),
  };
}

/** --rate fixes the rate; without it the rate is found (master/rate.ts), from where the last push to these targets settled or START, up to --max-rate. */
function rateOf(raw: Raw): { rateBps: number; maxRateBps: number; adaptive: boolean } {
  const max = parseRate('--max-rate', String(raw.maxRate ?? '1g'));
  if (raw.rate !== undefined) {
    if (raw.maxRate !== undefined) throw new UserError('--rate fixes the rate; --max-rate caps the rate found from feedback: give one of them');
    return { rateBps: parseRate('--rate', String(raw.rate)), maxRateBps: max, adaptive: false };
  }
  return { rateBps: Math.min(START, max), maxRateBps: max, adaptive: true };
}

/** -b, -u, --backup-dir: the suffix defaults to the original's _mcast_bakMMDDhhmm (push start, local time). */
function backupOf(raw: Raw, daemon: boolean): SyncParams['backup'] {
  const dir = raw.backupDir === undefined ? null : String(raw.backupDir);
  if (!raw.backup && dir === null) {
    if (raw.suffix !== undefined) throw new UserError('--suffix is for -b');
    return null;
  }
  const now = new Date();
  const two = (n: number): string => String(n).padStart(2, '0');
  const suffix = raw.suffix !== undefined ? String(raw.suffix)
    : dir !== null ? '' : `_mcast_bak${two(now.getMonth() + 1)}${two(now.getDate())}${two(now.getHours())}${two(now.getMinutes())}`;
  if (suffix.includes('/') || suffix.includes('\0')) throw new UserError(`--suffix '${suffix}' may not contain '/'`);
  if (dir === null && suffix === '') throw new UserError('an empty --suffix needs --backup-dir (a backup would replace the file itself)');
  if (dir !== null) {
    if (dir === '' || dir.includes('\0')) throw new UserError('bad --backup-dir');
    if (path.isAbsolute(dir)) {
      if (daemon) throw new UserError('--backup-dir must be relative with --daemon (inside each daemon\'s root)');
    } else {
      const rel = dir.split('/').filter((c) => c !== '' && c !== '.').join('/');
      const why = rel ? pathProblem(Buffer.from(rel)) : 'it names -t itself';
      if (why) throw new UserError(`--backup-dir ${dir}: ${why}`);
      return { suffix, dir: rel };
    }
  }
  return { suffix, dir };
}

/** With --daemon, a host is a name or an address; the port is --daemon-port for all (host:port would be looked up as a name). */
function daemonHosts(hosts: string[], daemon: boolean): string[] {
  const bad = daemon ? hosts.find((h) => (h.match(/:/g) ?? []).length === 1) : undefined;
  if (bad) throw new UserError(`-m ${bad}: with --daemon, give the daemons' port with --daemon-port, not as host:port`);
  return hosts;
}

/** With --daemon, -t is a path inside each daemon's --root ('/' or '.' is the root itself). */
function daemonTarget(t: string): string {
  const rel = t.split('/').filter((c) => c !== '' && c !== '.').join('/') || '.';
  const why = rel === '.' ? null : pathProblem(Buffer.from(rel));
  if (why) throw new UserError(`-t ${t}: with --daemon the target is a path inside each daemon's root (${why})`);
  return rel;
}

function checkWritableDir(file: string, opt: string): void {
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`${opt} ${file} is a directory`);
  try {
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
  } catch {
    throw new UserError(`${opt} ${file}: directory ${path.dirname(file)} is not writable or does not exist`);
  }
}

/** mrsync --install: this package onto every target (master/install.ts); a line per target done, a summary by outcome. */
async function install(raw: Raw): Promise<number> {
  const pushOnly = ['source', 'target', 'delete', 'backup', 'backupDir', 'list', 'filesFrom', 'checksum', 'dryRun', 'daemon', 'statusFile', 'logFile']
    .filter((k) => raw[k] !== undefined && raw[k] !== false);
  if (pushOnly.length) throw new UserError(`--install takes -m, -r, --remote-path, -w, --fan-out and -v (not --${pushOnly[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)})`);
  refuseOptionValues(raw, [['machines', '-m']]);
  const net = netOptions(raw, raw.remotePath ? String(raw.remotePath) : undefined, 'multicatcher');
  if (path.basename(net.remotePath) !== 'multicatcher' || path.basename(path.dirname(net.remotePath)) !== 'bin' || !path.isAbsolute(net.remotePath)) {
    throw new UserError(`--remote-path ${net.remotePath}: with --install it must be an absolute DIR/bin/multicatcher (the package goes to DIR)`);
  }
  const o = {
    hosts: parseTargets(String(raw.machines)), rsh: net.rsh, dir: path.dirname(path.dirname(net.remotePath)),
    fanOut: parseIntIn('--fan-out', String(raw.fanOut), 1, 256), waitMs: parseIntIn('-w', String(raw.wait), 1, 86400) * 1000,
  };
  const here = PACKAGE_ROOT;
  if (path.resolve(o.dir) !== here) throw new UserError(`--install puts this package (${here}) at the same path on the targets; --remote-path names another (${o.dir})`);
  const shown = new Map<string, number>();
  const results = await installAll(o, (r) => {
    if (net.verbose === 0 && (r.state === 'INSTALLED' || r.state === 'UP_TO_DATE')) return;
    const n = (shown.get(r.state) ?? 0) + 1;
    shown.set(r.state, n);
    if (n <= 10 || (r.state !== 'FAILED' && r.state !== 'UNREACHABLE' && net.verbose >= 2)) process.stdout.write(`${r.host}: ${r.state === 'FAILED' || r.state === 'UNREACHABLE' ? `${r.state.toLowerCase()}: ` : ''}${r.detail}\n`);
    else if (n === 11) process.stdout.write(`... more targets ${r.state.toLowerCase().replace(/_/g, ' ')}: counted below\n`);
  });
  const count = (s: InstallState): number => results.filter((r) => r.state === s).length;
  const bad = results.filter((r) => r.state === 'FAILED' || r.state === 'UNREACHABLE');
  const groups = groupFailed(bad.map((r) => ({
    host: r.host, state: r.state as 'FAILED' | 'UNREACHABLE', code: r.state, text: r.detail,
    hint: r.state === 'UNREACHABLE' ? failureHint('UNREACHABLE', r.detail) : null,
  })));
  const lines = [`mrsync ${VERSION} at ${o.dir}: ${count('INSTALLED')} installed, ${count('UP_TO_DATE')} up to date, ${count('FAILED')} failed, ${count('UNREACHABLE')} unreachable (of ${results.length})`];
  if (groups.length) lines.push('targets not done, by cause:', ...groupLines(groups));
  if (net.verbose >= 1 || bad.length) process.stdout.write(lines.join('\n') + '\n');
  return count('UNREACHABLE') ? 3 : count('FAILED') ? 2 : 0;
}

/** The signals that interrupt a push: the first stops it in order, a second quits at once. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function main(argv = process.argv): Promise<void> {
  const rules: RuleSpec[] = [];
  return runCommand('mrsync', program(rules), argv, async (raw) => {
    if (raw.install) return install(raw);
    const o = buildOptions(raw, rules);
    const interval = parseIntIn('--progress-interval', String(raw.progressInterval), 1, 3600);
    // '-': the status document on stdout (for scripts), the report and progress on stderr;
    // a status file that is a symlink is written where it points (the link stays, as a shell's > would leave it)
    const toStdout = raw.statusFile === '-';
    const statusFile = raw.statusFile && !toStdout ? realTarget(path.resolve(String(raw.statusFile))) : null;
    if (statusFile) checkWritableDir(statusFile, '--status-file');
    const logFile = raw.logFile ? path.resolve(String(raw.logFile)) : undefined;
    if (logFile) checkWritableDir(logFile, '--log-file');
    const out = toStdout ? process.stderr : process.stdout;
    const log = makeLogger(o.verbose, 'mrsync', logFile);
    const push = new Push(o, log);
    log.bind({ session: push.sessionId });
    log.info('push started', { source: o.src.toString(), target: o.dst.toString(), targets: o.targets.length });
    // the live bar at -v 1 on a terminal; with -v 2 debug lines would tear it: plain progress lines
    const progress = o.verbose >= 1 ? new ProgressView(() => push.snapshot(), Boolean(out.isTTY) && o.verbose === 1, interval * 1000, out) : null;
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      progress?.stop(); // the terminal's cursor and line wrap back before anything is written
      if (signals++ === 0 && push.interrupt(sig)) return;
      if (signals > 1) {
        process.stderr.write(`mrsync: ${sig} again: quitting at once (catchers end as their channel closes)\n`);
        process.exit(EXIT_INTERRUPTED);
      }
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
    progress?.start();
    let report;
    try {
      report = await push.run();
    } finally {
      progress?.stop();
    }
    const code = exitCode(report);
    log.info('push finished', { exitCode: code, seconds: report.seconds });
    if (o.verbose >= 1 || code !== 0) out.write(formatReport(report, o.verbose) + '\n');
    const doc = statusDoc(report, code, o.src.toString(), o.dst.toString());
    if (statusFile) writeStatusFile(statusFile, doc);
    if (toStdout) process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    // the report is out: a channel that outlives it (a remote shell neither SIGTERM nor SIGKILL ended: a
    // process in the kernel's uninterruptible sleep) does not hold this process (a push that never exits)
    setTimeout(() => process.exit(code), 5000).unref();
    return code;
  });
}

// The program itself (bin/mrsync runs its bundle): importing this module runs it, so what tests need of
// the command line lives elsewhere (operator/status.ts, options.ts).
// A fault of this program where no promise catches it (an event handler): named, exit 4 (not Node's 1, which
// says bad input); the catchers end as their channels close, removing their temp files
process.on('uncaughtException', (e) => process.exit(errorExit('mrsync', e)));
void main();
