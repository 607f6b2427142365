// Progress while a push runs: on a terminal a live bar (cli-progress) with
// bytes, rate, ETA, files and targets complete / behind / dropped; when stdout
// is not a terminal a plain line every interval; with -v 0 nothing.
import type cliProgress from 'cli-progress';
import { Progress } from '../master/summary';
import { human } from './report';
import { nowMs } from '../clock';

export function progressLine(p: Progress, rateBps: number): string {
  const eta = rateBps > 0 && p.bytesTotal > p.bytesSent ? Math.ceil(((p.bytesTotal - p.bytesSent) * 8) / rateBps) : 0;
  return `${p.phase === 'data' ? 'sending' : p.phase}: ${human(p.bytesSent)} of ${human(p.bytesTotal)}, ` +
    `${(rateBps / 1e6).toFixed(1)} Mbit/s, ETA ${eta}s, files ${p.filesDone}/${p.filesTotal}, ` +
    `targets ${p.complete} complete / ${p.behind} behind / ${p.dropped} dropped`;
}

export class ProgressView {
  private timer: NodeJS.Timeout | null = null;
  private bar: cliProgress.SingleBar | null = null;
  private last = { t: nowMs(), bytes: 0 };
  private rate = 0;

  constructor(private readonly snap: () => Progress, private readonly tty: boolean, private readonly intervalMs: number,
              private readonly out: NodeJS.WriteStream = process.stdout) {}

  start(): void {
    if (this.tty) {
      const bars = require('cli-progress') as typeof cliProgress; // eslint-disable-line @typescript-eslint/no-require-imports -- loaded for a terminal only
      this.bar = new bars.SingleBar({
        stream: this.out,
        format: '{bar} {percentage}% | {status}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        fps: 8,
      }, bars.Presets.shades_classic);
      this.bar.start(1, 0, { status: 'starting catchers' });
    }
    this.timer = setInterval(() => this.update(), this.tty ? 250 : this.intervalMs);
    this.timer.unref();
  }

  private update(): void {
    const p = this.snap();
    const now = nowMs();
    const dt = (now - this.last.t) / 1000;
    if (dt > 0) {
      const inst = ((p.bytesSent - this.last.bytes) * 8) / dt;
      this.rate = this.rate ? 0.7 * this.rate + 0.3 * inst : inst;
    }
    this.last = { t: now, bytes: p.bytesSent };
    const line = progressLine(p, this.rate);
    if (this.bar) {
      this.bar.setTotal(Math.max(1, p.bytesTotal));
      this.bar.update(p.bytesSent, { status: line });
    } else {
      this.out.write(`mrsync: ${line}\n`);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.bar?.stop();
    this.bar = null;
  }
}
