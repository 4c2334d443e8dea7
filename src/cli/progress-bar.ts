import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressFn } from '../util/progress.js';

/** Off a terminal, a progress line at least this often (a log shows the run is alive and how far it is). */
export const LOG_LINE_SECONDS = 15;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

/**
 * Renders library progress events as one bar per stage (count, rate, ETA) on a terminal.
 * Off a terminal (CI, pipes, a log file) it prints a plain line with count, rate and ETA every
 * LOG_LINE_SECONDS while a stage runs, and one summary line when it ends, instead of redraws.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr, lineSeconds = LOG_LINE_SECONDS): ProgressFn & { stop(): void } {
  let bar: cliProgress.SingleBar | undefined;
  let stage = '';
  let started = 0;
  let lastLine = 0;
  const finishLine = (e: ProgressEvent) => {
    const seconds = (performance.now() - started) / 1000;
    stream.write(`${e.stage}: ${e.done}/${e.total} in ${seconds.toFixed(1)} s (${(e.done / Math.max(seconds, 1e-9)).toFixed(1)}/s)\n`);
  };
  const progressLine = (e: ProgressEvent) => {
    const seconds = (performance.now() - started) / 1000;
    const rate = e.done / Math.max(seconds, 1e-9);
    stream.write(`${e.stage}: ${e.done}/${e.total} (${((100 * e.done) / e.total).toFixed(0)}%), ${rate.toFixed(1)}/s, ETA ${duration((e.total - e.done) / rate)}\n`);
  };
  const fn = ((e: ProgressEvent) => {
    if (e.total === 0) return;
    if (e.stage !== stage) {
      bar?.stop();
      bar = undefined;
      stage = e.stage;
      started = performance.now();
      lastLine = started;
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
    const now = performance.now();
    const seconds = (now - started) / 1000;
    bar?.update(e.done, { rate: (e.done / Math.max(seconds, 1e-9)).toFixed(1) });
    if (!bar && e.done < e.total && now - lastLine >= lineSeconds * 1000) {
      lastLine = now;
      progressLine(e);
    }
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
