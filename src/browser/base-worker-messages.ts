/** What the page and its base worker (base-worker.ts) say to each other. */

export interface BaseWorkerLoad {
  type: 'load';
  /** Folder of tfjs' .wasm files, as an absolute URL. */
  wasm: string;
  /** The base's graph model.json, as an absolute URL. */
  model: string;
  featureNode: string;
  pooling: 'none' | 'global-average';
}

export interface BaseWorkerRun {
  type: 'run';
  id: number;
  /** Preprocessed [n, height, width, 3] pixels (transferred). */
  pixels: Float32Array;
  n: number;
  height: number;
  width: number;
}

export type BaseWorkerRequest = BaseWorkerLoad | BaseWorkerRun;

export type BaseWorkerReply =
  | { type: 'ready' }
  | { type: 'features'; id: number; features: Float32Array }
  | { type: 'error'; id: number | null; message: string };
