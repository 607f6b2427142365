// The command line of a catcher, kept apart from the rest of the CLI code
// (commander, the remote shell): a catcher starts on every target at the
// beginning of every push, and what it loads is on that push's clock.
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../native';
import { SESSION_VERSION } from '../wire/session';

/**
 * What --version prints: the package version (package.json, one place) and
 * the protocol it speaks (the session header's version: installs of another
 * protocol refuse each other's sessions), so two installs are told apart.
 */
export const VERSION: string = `${(JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version} (protocol ${SESSION_VERSION})`;

/**
 * The command line of a catcher (multicatcher, rttcatcher): it takes no
 * options but --help and --version; everything else comes on stdin from the
 * master through the remote shell.
 */
export function catcherCli(name: string, master: string, about: string, run: () => void): void {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`Usage: ${name}

${about} Not meant to be run by hand.

Options:
  -h, --help     this text
  -V, --version  the version

Examples (what ${master} runs for you):
  ssh node17 '/opt/mrsync/bin/${name}'                   the default remote shell
  ${master} -r 'ssh -p 2222' -m node17 ...   runs: ssh -p 2222 node17 '/opt/mrsync/bin/${name}'
`);
    process.exit(0);
  }
  if (args.includes('--version') || args.includes('-V')) {
    process.stdout.write(`${VERSION}\n`);
    process.exit(0);
  }
  if (args.length) {
    process.stderr.write(`${name}: unexpected arguments: ${args.join(' ')} (the session comes on stdin)\n`);
    process.exit(1);
  }
  run();
}
