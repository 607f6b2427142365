// rttcatcher: started by rtt on each host through the remote shell.
import { rttCatcherMain } from '../rtt/catcher';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`Usage: rttcatcher

The answering side of rtt, started on each host by rtt through its remote
shell (-r, default ssh). It reads the session header (group, port, session
key) as one JSON line on stdin, answers every authenticated probe at once,
and exits when stdin closes. Not meant to be run by hand.

Options:
  -h, --help     this text
  -V, --version  the version

Examples (what rtt runs for you):
  ssh node17 '/opt/mrsync/bin/rttcatcher'       the default remote shell
  rtt -r 'ssh -p 2222' -m node17 ...        then: ssh -p 2222 node17 '/opt/mrsync/bin/rttcatcher'
`);
  process.exit(0);
} else if (args.includes('--version') || args.includes('-V')) {
  process.stdout.write('0.1.0\n');
  process.exit(0);
}
rttCatcherMain();
