// What every command-line tool does with an error: one line, an exit code.
import path from 'node:path';
import { Command } from 'commander';
import { NetOptions, parseGroup, parseIntIn, resolveInterface } from '../options';
import { splitCommand } from '../channel/remote';
import { UserError } from '../errors';
import { PACKAGE_ROOT } from '../native';

/** Print e as one line and return the exit status: 0 help/version, 1 bad input, 4 anything else. */
export function errorExit(prog: string, e: unknown): number {
  const err = e as Error & { code?: string };
  if (err.code?.startsWith('commander.')) {
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 1;
  }
  if (e instanceof UserError) {
    process.stderr.write(`${prog}: ${err.message}\n`);
    return 1;
  }
  if (err.code && 'syscall' in err) {
    process.stderr.write(`${prog}: ${err.message}\n`);
    return 4;
  }
  process.stderr.write(`${prog}: internal error: ${err.stack ?? err}\n`);
  return 4;
}

/**
 * The remote shell when neither -r nor MRSYNC_RSH names one: ssh that never
 * prompts. With hundreds of targets a password, a key's passphrase or a new
 * host key would be hundreds of prompts on one terminal, all at once; in
 * batch mode each such host fails at once, named with ssh's own reason.
 */
export const DEFAULT_RSH = 'ssh -o BatchMode=yes';
export const defaultRsh = (): string => process.env.MRSYNC_RSH ?? DEFAULT_RSH;

/** The options mrsync and rtt share, with the original's letters. */
export function addNetOptions(cmd: Command, d: { group: string; port: string; catcher: string }): Command {
  return cmd
    .option('-r, --rsh <command>', `remote shell used to start ${d.catcher}, run as COMMAND HOST "cmd"`, defaultRsh())
    .option('-A, --address <group>', 'multicast group, IPv4 or IPv6', d.group)
    .option('-P, --port <port>', 'UDP port of the group; the master receives answers on port-1', d.port)
    .option('-T, --ttl <hops>', 'multicast TTL / hop limit', '1')
    .option('-L, --loopback', `multicast loopback from the start (a ${d.catcher} on this machine has it turned on when it starts)`, false)
    .option('-I, --interface <name|addr>', 'interface to multicast on (default: by route)')
    .option('-v, --verbose <level>', '0 = errors only, 1 = report, 2 = debug log', '1');
}

export type Raw = Record<string, string | boolean | undefined>;

/** Parse what addNetOptions added; remotePath defaults to the catcher beside this program. */
export function netOptions(raw: Raw, remotePath: string | undefined, catcher: string): NetOptions & { verbose: number } {
  const { family, group } = parseGroup(String(raw.address));
  refuseOptionValues(raw, [['verbose', '-v'], ['rsh', '-r'], ['address', '-A'], ['port', '-P'], ['ttl', '-T'], ['interface', '-I']]);
  let rsh: string[];
  try {
    rsh = splitCommand(String(raw.rsh));
  } catch (e) {
    throw new UserError(`-r: ${(e as Error).message}`);
  }
  if (!rsh.length) throw new UserError('--rsh is empty');
  return {
    family, group, rsh,
    ifname: resolveInterface(String(raw.interface ?? '')),
    port: parseIntIn('-P', String(raw.port), 2, 65535),
    ttl: parseIntIn('-T', String(raw.ttl), 0, 255),
    loopback: Boolean(raw.loopback),
    remotePath: remotePath ?? path.join(PACKAGE_ROOT, 'bin', catcher),
    verbose: parseIntIn('-v', String(raw.verbose), 0, 2),
  };
}

/** `mrsync --help | head`: a closed stdout ends the program quietly, not with a stack trace. */
export function quietBrokenPipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

export { VERSION } from './catcher-cli';

/** An option that took the next option as its value (-v -m h1: -v took "-m"): a missing value, said as such. */
function tookOption(flag: string, val: string): UserError {
  return new UserError(`${flag} needs a value (it took the option '${val}' as one)`);
}

/**
 * Before parsing: an option that needs a value followed by another of the
 * command's options (the parser would take "-m" as -v's value and then say
 * -m is missing).
 */
function missingValues(cmd: Command, args: string[]): void {
  const flags = new Set(cmd.options.flatMap((o) => [o.short, o.long].filter((f): f is string => Boolean(f))));
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === '--') return;
    const o = cmd.options.find((x) => x.short === args[i] || x.long === args[i]);
    if (o?.required && flags.has(args[i + 1])) throw tookOption(args[i], args[i + 1]);
  }
}

/** After parsing: these options' values ([key, flag]) may not look like an option at all. */
export function refuseOptionValues(raw: Raw, opts: ReadonlyArray<readonly [string, string]>): void {
  for (const [key, flag] of opts) {
    const val = raw[key];
    if (typeof val === 'string' && /^-[A-Za-z-]/.test(val)) throw tookOption(flag, val);
  }
}

/**
 * The frame of every command: a quiet broken pipe, parse, run, and one
 * line plus an exit status for whatever goes wrong. run returns the status.
 */
export async function runCommand(prog: string, cmd: Command, argv: string[], run: (raw: Raw) => Promise<number>): Promise<void> {
  quietBrokenPipe();
  let code: number;
  try {
    missingValues(cmd, argv.slice(2));
    cmd.parse(argv);
    code = await run(cmd.opts() as Raw);
  } catch (e) {
    code = errorExit(prog, e);
  }
  process.exitCode = code;
}
