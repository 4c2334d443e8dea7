import { UsageError } from '../../src/errors.js';
import type { OnnxThread } from '../../src/runtime/onnx/open-session.js';
import { OnnxWorker } from '../../src/runtime/onnx/worker-session.js';

export const BENCH_ONNX_THREADS = ['main', 'worker', 'shared', 'pair'] as const;

/**
 * A benchmark's `--onnx-thread`, as the places of the detector's and the base's sessions: `main`
 * or `worker` (a worker thread per session) as the library takes them, `shared` (one OnnxWorker
 * for every session), or `pair` (one for the detector's sessions, one for the base's). `close`
 * ends the workers made here.
 */
export function onnxThreadsFor(name: string | undefined): { detector: OnnxThread; base: OnnxThread; close: () => Promise<void> } {
  switch (name) {
    case 'main':
    case 'worker':
      return { detector: name, base: name, close: async () => {} };
    case 'shared': {
      const worker = OnnxWorker.start();
      return { detector: worker, base: worker, close: () => worker.close() };
    }
    case 'pair': {
      const [detector, base] = [OnnxWorker.start(), OnnxWorker.start()];
      return { detector, base, close: async () => void (await Promise.all([detector.close(), base.close()])) };
    }
    default:
      throw new UsageError(`--onnx-thread must be one of ${BENCH_ONNX_THREADS.join(', ')}, got '${String(name)}'`);
  }
}
