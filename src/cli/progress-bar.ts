import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressFn } from '../util/progress.js';

/**
 * Renders library progress events as one bar per stage (count, rate, ETA) on a terminal.
 * Off a terminal (CI, pipes) it prints one summary line per finished stage instead of redraws.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): ProgressFn & { stop(): void } {
  let bar: cliProgress.SingleBar | undefined;
  let stage = '';
  let started = 0;
  const finishLine = (e: ProgressEvent) => {
    const seconds = (performance.now() - started) / 1000;
    stream.write(`${e.stage}: ${e.done}/${e.total} in ${seconds.toFixed(1)} s (${(e.done / Math.max(seconds, 1e-9)).toFixed(1)}/s)\n`);
  };
  const fn = ((e: ProgressEvent) => {
    if (e.total === 0) return;
    if (e.stage !== stage) {
      bar?.stop();
      bar = undefined;
      stage = e.stage;
      started = performance.now();
      if (stream.isTTY) {
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${e.stage} [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted}`,
            etaBuffer: 50,
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(e.total, 0, { rate: '0.0' });
      }
    }
    const seconds = (performance.now() - started) / 1000;
    bar?.update(e.done, { rate: (e.done / Math.max(seconds, 1e-9)).toFixed(1) });
    if (e.done >= e.total) {
      if (bar) bar.stop();
      else finishLine(e);
      bar = undefined;
      stage = '';
    }
  }) as ProgressFn & { stop(): void };
  fn.stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return fn;
}
