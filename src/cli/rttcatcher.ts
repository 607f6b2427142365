// rttcatcher: started by rtt on each host through the remote shell.
import { rttCatcherMain } from '../rtt/catcher';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`Usage: rttcatcher

The answering side of rtt, started on each host by rtt through its remote
shell (-r, default ssh). It reads the session header (group, port, session
key) as one JSON line on stdin, answers every authenticated probe at once,
and exits when stdin closes. Not meant to be run by hand.
`);
  process.exit(0);
} else if (args.includes('--version') || args.includes('-V')) {
  process.stdout.write('0.1.0\n');
  process.exit(0);
}
rttCatcherMain();
