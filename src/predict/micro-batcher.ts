/**
 * Gathers single calls into batches: a call made while a batch is running waits for it and joins
 * the next one. An idle batcher starts at once (after the current turn of the event loop, so calls
 * made together go together), so a lone request pays no waiting time, and under load each model
 * call takes up to `maxBatch` items.
 */
export interface MicroBatcher<T, R> {
  run(item: T): Promise<R>;
  /** Items waiting, not counting the batch in flight. */
  readonly pending: number;
  /** Largest batch run so far, for tests and logs. */
  readonly largestBatch: number;
}

export function microBatcher<T, R>(fn: (items: T[]) => Promise<R[]>, maxBatch: number): MicroBatcher<T, R> {
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new RangeError(`maxBatch must be a whole number ≥ 1, got ${maxBatch}`);
  const queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  let running = false;
  let largest = 0;

  const drain = async () => {
    running = true;
    try {
      while (queue.length > 0) {
        // Model calls block the thread and their results resolve as microtasks, so without this
        // turn of the event loop a busy batcher would run batch after batch while requests
        // waiting on sockets are never read: they would join only once the queue ran dry.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const jobs = queue.splice(0, maxBatch);
        largest = Math.max(largest, jobs.length);
        try {
          const out = await fn(jobs.map((j) => j.item));
          if (out.length !== jobs.length) throw new Error(`batch function returned ${out.length} results for ${jobs.length} items`);
          jobs.forEach((j, i) => j.resolve(out[i] as R));
        } catch (err) {
          for (const j of jobs) j.reject(err);
        }
      }
    } finally {
      running = false;
    }
  };

  return {
    run(item: T): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (!running) void drain();
      });
    },
    get pending() {
      return queue.length;
    },
    get largestBatch() {
      return largest;
    },
  };
}
