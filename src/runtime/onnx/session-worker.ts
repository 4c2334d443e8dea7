import { parentPort } from 'node:worker_threads';
import type ort from './ort.js';
import { createOrtSession, describeValue, nhwcToNchw, runFloat, type OutputTensor } from './session.js';
import type { WorkerEnvelope, WorkerReply, WorkerRequest } from './worker-session.js';

/**
 * The worker thread of an OnnxWorker (worker-session.ts): it owns the ONNX Runtime sessions and
 * runs them one message at a time, so ORT's synchronous `run` blocks this thread, not the main
 * one. session.js brings in ort.js, which keeps ORT's telemetry off here as in the main thread.
 */

const port = parentPort;
if (!port) throw new Error('session-worker.ts is the entry of an ONNX Runtime worker thread; start it through OnnxWorker');

const sessions = new Map<number, ort.InferenceSession>();

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  (port as NonNullable<typeof port>).postMessage(message, transfer);
}

function session(id: number): ort.InferenceSession {
  const s = sessions.get(id);
  if (!s) throw new Error(`no session ${id} in this worker (released?)`);
  return s;
}

async function handle(id: number, m: WorkerRequest): Promise<void> {
  switch (m.op) {
    case 'open': {
      const s = await createOrtSession(m.model, m.threads);
      sessions.set(m.session, s);
      reply({ id, ok: true, metadata: { inputs: s.inputMetadata.map(describeValue), outputs: s.outputMetadata.map(describeValue) } });
      return;
    }
    case 'run': {
      const data = m.toNchw ? nhwcToNchw(m.data, m.toNchw.n, m.toNchw.height, m.toNchw.width) : m.data;
      const results: Record<string, OutputTensor> = await runFloat(session(m.session), m.inputName, data, m.dims, m.outputNames);
      reply({ id, ok: true, results }, Object.values(results).map((o) => o.data.buffer as ArrayBuffer));
      return;
    }
    case 'release': {
      const s = sessions.get(m.session);
      sessions.delete(m.session);
      await s?.release();
      reply({ id, ok: true });
      return;
    }
  }
}

// One request at a time, in the order sent: ORT's `run` yields once before it computes, and a
// release handled in that gap would pull the session from under it.
let queue = Promise.resolve();
port.on('message', ({ id, request }: WorkerEnvelope) => {
  queue = queue.then(() => handle(id, request).catch((err: unknown) => reply({ id, ok: false, message: err instanceof Error ? err.message : String(err) })));
});
