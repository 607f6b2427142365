// The catcher side of the remote-shell channel, shared by multicatcher and
// rttcatcher: the first stdin line is the session header; later lines go to
// the session; stdin closing, a signal or a broken stdout ends the process
// after the session's cleanup. Lines out are tagged JSON (session.ts).
import readline from 'node:readline';
import { CatcherLine, LINE_TAG } from '../wire/session';

export function emit(line: CatcherLine): void {
  process.stdout.write(LINE_TAG + JSON.stringify(line) + '\n');
}

export interface ChannelSession {
  line?(msg: unknown): void;
  shutdown(): void;
}

/** start(header) builds and starts the session from the parsed first line; throwing reports a fatal line. */
export function serveChannel(start: (header: unknown) => ChannelSession): void {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  let session: ChannelSession | null = null;
  const bye = (code: number): never => {
    session?.shutdown();
    process.exit(code);
  };
  // a daemon's spare catcher (daemon.ts) waits for its session as long as it takes
  const timer = process.env.MRSYNC_SPARE === '1' ? undefined : setTimeout(() => {
    emit({ t: 'fatal', msg: 'no session header on stdin within 60 s' });
    bye(2);
  }, 60_000);
  rl.on('line', (line) => {
    if (!session) {
      clearTimeout(timer);
      try {
        session = start(JSON.parse(line));
      } catch (e) {
        emit({ t: 'fatal', msg: (e as Error).message });
        bye(2);
      }
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // a damaged line is ignored
    }
    session.line?.(msg);
  });
  rl.on('close', () => bye(0));
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => bye(1));
  process.stdout.on('error', () => bye(1));
}
