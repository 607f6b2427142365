// multicatcher: started by mrsync on each target through the remote shell.
import { catcherMain } from '../catcher';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`Usage: multicatcher

The receiving side of mrsync, started on each target by mrsync through its
remote shell (-r, default ssh). It reads the session header (group, port,
session key, destination) as one JSON line on stdin, reports on stdout, and
removes its temp files and exits when stdin closes. Not meant to be run by hand.
`);
  process.exit(0);
} else if (args.includes('--version') || args.includes('-V')) {
  process.stdout.write('0.1.0\n');
  process.exit(0);
}
catcherMain();
