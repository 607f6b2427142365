// multicatcher: started by mrsync on each target through the remote shell.
import { catcherMain } from '../catcher';
import { catcherCli } from './common';

catcherCli('multicatcher', 'mrsync', `The receiving side of mrsync, started on each target by mrsync through its
remote shell (-r, default ssh). It reads the session header (group, port,
session key, destination) as one JSON line on stdin, reports on stdout, and
removes its temp files and exits when stdin closes.`, catcherMain);
