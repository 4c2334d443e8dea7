import type { DecodeOptions } from '../data/decode.js';
import type { TfjsBackendName } from '../runtime/tfjs/backend.js';
import type { ProgressFn } from '../util/progress.js';

/** What every packaged gender model offers the comparison. */

export interface GenderScores {
  /** P(Male) per file, in input order (label 1 = Male). */
  probs: Float32Array;
  /** The model calls an image Male when its probability is above this. */
  threshold: number;
  /** Anything the reader of the table should know about this run, e.g. faces the detector missed. */
  notes?: string;
}

/** The same shape as the comparison's `Competitor`, so one passes for the other. */
export interface GenderModel {
  id: string;
  architecture: string;
  /** What its weights were trained on, and where they come from. */
  weights: string;
  score(files: string[]): Promise<GenderScores>;
  dispose(): Promise<void>;
}

export interface GenderModelOptions {
  /** tfjs backend (see initTfjs). Default wasm. */
  backend?: TfjsBackendName;
  /** Images decoded and run per forward pass. Default 16. */
  batchSize?: number;
  /** Decoding options other than size and crop, which each model sets itself. */
  decode?: Pick<DecodeOptions, 'interpolation' | 'background' | 'maxPixels' | 'tolerateWarnings'>;
  onProgress?: ProgressFn;
}
