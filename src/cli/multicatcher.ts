// multicatcher: started by mrsync on each target through the remote shell,
// or standing as a daemon (--daemon) that masters reach with a shared key.
import { catcherMain } from '../catcher/catcher';
import { catcherCli } from './catcher-cli';
import { DAEMON_PORT } from './daemon-port';

const args = process.argv.slice(2);
if (args.some((a) => a === '--daemon' || a.startsWith('--new-key'))) {
  // the daemon's code (commander, TLS) is loaded only for it
  void (require('./multicatcher-daemon') as typeof import('./multicatcher-daemon')).daemonMain(); // eslint-disable-line @typescript-eslint/no-require-imports
} else {
  catcherCli('multicatcher', 'mrsync', `The receiving side of mrsync, started on each target by mrsync through its
remote shell (-r, default ssh). It reads the session header (group, port,
session key, destination) as one JSON line on stdin, reports on stdout, and
removes its temp files and exits when stdin closes.

Or a standing daemon that masters reach without ssh (mrsync --daemon):
  multicatcher --daemon --root DIR --key-file FILE [--listen ADDR] [--port ${DAEMON_PORT}]
  multicatcher --new-key FILE      (see multicatcher --daemon --help)`, catcherMain);
}
