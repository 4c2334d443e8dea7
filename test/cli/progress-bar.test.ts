import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { terminalProgress } from '../../src/cli/progress-bar.js';

/** A stream that is not a terminal, as a log file or a pipe is. */
function logStream(): NodeJS.WriteStream & { lines: () => string[] } {
  let text = '';
  const s = { isTTY: false, write: (chunk: string) => ((text += chunk), true), lines: () => text.split('\n').filter(Boolean) };
  return s as unknown as NodeJS.WriteStream & { lines: () => string[] };
}

describe('progress off a terminal', () => {
  it('prints a plain line with count, rate and ETA while a stage runs, and a summary when it ends', async () => {
    const stream = logStream();
    const progress = terminalProgress(stream, 0.05);
    progress({ stage: 'embed face', done: 0, total: 10 });
    for (let done = 1; done <= 10; done++) {
      await sleep(20);
      progress({ stage: 'embed face', done, total: 10 });
    }
    const lines = stream.lines();
    const during = lines.filter((l) => /ETA/.test(l));
    expect(during.length).toBeGreaterThanOrEqual(2);
    for (const l of during) expect(l).toMatch(/^embed face: \d+\/10 \(\d+%\), \d+\.\d\/s, ETA \d+ s$/);
    expect(lines.at(-1)).toMatch(/^embed face: 10\/10 in \d+\.\d s \(\d+\.\d\/s\)$/);
  });

  it('stays quiet between lines: no line before the interval has passed', () => {
    const stream = logStream();
    const progress = terminalProgress(stream, 60);
    progress({ stage: 'predict', done: 0, total: 100 });
    for (let done = 1; done < 100; done++) progress({ stage: 'predict', done, total: 100 });
    expect(stream.lines()).toEqual([]);
  });
});
