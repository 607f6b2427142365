// multicatcher: started by mrsync on each target through the remote shell.
import { catcherMain } from '../catcher';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`Usage: multicatcher

The receiving side of mrsync, started on each target by mrsync through its
remote shell (-r, default ssh). It reads the session header (group, port,
session key, destination) as one JSON line on stdin, reports on stdout, and
removes its temp files and exits when stdin closes. Not meant to be run by hand.

Options:
  -h, --help     this text
  -V, --version  the version

Examples (what mrsync runs for you):
  ssh node17 '/opt/mrsync/bin/multicatcher'       the default remote shell
  mrsync -r 'ssh -p 2222' -m node17 ...        then: ssh -p 2222 node17 '/opt/mrsync/bin/multicatcher'

Options:
  -h, --help     this text
  -V, --version  the version

Examples (what mrsync runs for you):
  ssh node17 '/opt/mrsync/bin/multicatcher'       the default remote shell
  mrsync -r 'ssh -p 2222' -m node17 ...        then: ssh -p 2222 node17 '/opt/mrsync/bin/multicatcher'
`);
  process.exit(0);
} else if (args.includes('--version') || args.includes('-V')) {
  process.stdout.write('0.1.0\n');
  process.exit(0);
}
catcherMain();
