import { UsageError } from '../../errors.js';
import { OnnxSession, type OnnxRunner, type OnnxSessionOptions } from './session.js';
import { OnnxWorker } from './worker-session.js';

/**
 * Where ONNX Runtime runs a session: `main`, on the calling JavaScript thread (ORT's `run` then
 * blocks it for the whole run); `worker`, in a worker thread of its own, ended with the session;
 * or a given OnnxWorker that several sessions share (they then run one after another).
 */
export type OnnxThread = 'main' | 'worker' | OnnxWorker;
export const ONNX_THREAD_NAMES = ['main', 'worker'] as const;

export interface OpenSessionOptions extends OnnxSessionOptions {
  /** Default `main`. */
  thread?: OnnxThread;
}

/** Opens a model (bytes or a file path) with the project's CPU options, where `options.thread` says. */
export async function openOnnxSession(model: Uint8Array | string, options: OpenSessionOptions = {}): Promise<OnnxRunner> {
  const { thread = 'main', ...rest } = options;
  if (thread instanceof OnnxWorker) return thread.open(model, rest);
  if (thread === 'main') return OnnxSession.create(model, rest);
  if (thread !== 'worker') throw new UsageError(`unknown ONNX Runtime thread '${String(thread)}'; use ${ONNX_THREAD_NAMES.join(' or ')}`);
  const worker = OnnxWorker.start();
  try {
    const session = await worker.open(model, rest);
    session.ownsWorker = true;
    return session;
  } catch (err) {
    await worker.close();
    throw err;
  }
}
