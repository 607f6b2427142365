// rttcatcher: started by rtt on each host through the remote shell.
import { rttCatcherMain } from '../rtt/catcher';
import { catcherCli } from './catcher-cli';

catcherCli('rttcatcher', 'rtt', `The answering side of rtt, started on each host by rtt through its remote
shell (-r, default ssh). It reads the session header (group, port, session
key) as one JSON line on stdin, answers every authenticated probe at once,
and exits when stdin closes.`, rttCatcherMain);
