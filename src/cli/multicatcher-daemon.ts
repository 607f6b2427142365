// multicatcher --daemon / --new-key: a standing daemon that masters reach with a shared key.
import { Command } from 'commander';
import { Daemon, checkDaemonRoot } from '../channel/daemon';
import { newKeyFile, readKeyFile } from '../channel/keyfile';
import { parseIntIn } from '../options';
import { VERSION, runCommand } from './common';
import { DAEMON_PORT } from './daemon-port';
import { UserError } from '../errors';


function daemonProgram(): Command {
  return new Command('multicatcher')
    .description('Receive mrsync pushes as a standing daemon: only masters holding the key file, only into --root.')
    .option('--daemon', 'run as a daemon (see below)')
    .option('--root <dir>', 'the directory every session writes beneath (required)')
    .option('--key-file <file>', 'pre-shared key, the same file as the masters\' --key-file; mode 0600 (required)')
    .option('--listen <addr>', 'address to listen on', '::')
    .option('--port <port>', 'TCP port for sessions', DAEMON_PORT)
    .option('--max-sessions <n>', 'sessions at once; more are refused', '4')
    .option('--new-key <file>', 'write a new random key to FILE (mode 0600) and exit')
    .version(VERSION, '-V, --version')
    .addHelpText('after', `
Examples:
  multicatcher --new-key /etc/mrsync/key            make a key; copy it to the master and every target
  multicatcher --daemon --root /srv/data --key-file /etc/mrsync/key
  mrsync --daemon --key-file /etc/mrsync/key -m targets.list -s /build/out -t web
                                                    (on the master: writes /srv/data/web on each target)

The session's data is on the multicast group as with ssh (authenticated, and
encrypted with --encrypt); the session itself (the key of that group, the
needs and results) is on TLS 1.2 with the pre-shared key. See systemd/ for a
unit file.`)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`multicatcher: ${s.replace(/^error: /, '')}`) });
}

export function daemonMain(): Promise<void> {
  return runCommand('multicatcher', daemonProgram(), process.argv, async (raw) => {
    if (raw.newKey !== undefined) {
      // --new-key --help: the option took "--help" as its file; say so instead of writing a key named --help
      if (String(raw.newKey).startsWith('-') || raw.newKey === '') throw new UserError(`--new-key needs a file name (it took '${raw.newKey}' as one)`);
      newKeyFile(String(raw.newKey));
      process.stdout.write(`wrote a new key to ${raw.newKey} (mode 0600)\n`);
      return 0;
    }
    if (!raw.root) throw new UserError('--daemon needs --root DIR');
    if (!raw.keyFile) throw new UserError('--daemon needs --key-file FILE (make one with --new-key)');
    const root = checkDaemonRoot(String(raw.root));
    const psk = readKeyFile(String(raw.keyFile));
    const log = (msg: string): void => { process.stderr.write(`multicatcher: ${msg}\n`); };
    const d = new Daemon({
      root, psk, log,
      listen: String(raw.listen),
      port: parseIntIn('--port', String(raw.port), 1, 65535),
      maxSessions: parseIntIn('--max-sessions', String(raw.maxSessions), 1, 1000),
    });
    await d.listen();
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { log(`${sig}: stopping`); resolve(); });
    });
    await d.close();
    return 0;
  });
}

