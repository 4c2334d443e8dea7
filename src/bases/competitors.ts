import type { DecodeOptions } from '../data/decode.js';
import { UsageError } from '../errors.js';
import type { ProgressFn } from '../util/progress.js';
import { loadFaceapiAgeGender } from './competitor-faceapi-age-gender.js';
import { loadFaceresGender } from './competitor-faceres-gender.js';
import { loadGearGender } from './competitor-gear-gender.js';
import type { TfjsBackendName } from './tfjs-backend.js';

/**
 * Gender models that ship, trained, inside npm packages. The comparison scores them on the same
 * test images as the trained bases; they are never trained here.
 */

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

interface CompetitorEntry {
  id: string;
  load: (options: GenderModelOptions) => Promise<GenderModel>;
}

const ENTRIES: readonly CompetitorEntry[] = [
  { id: 'faceres-gender', load: (o) => loadFaceresGender('faceres', o) },
  { id: 'faceres-deep-gender', load: (o) => loadFaceresGender('faceres-deep', o) },
  { id: 'faceapi-age-gender', load: (o) => loadFaceapiAgeGender(o) },
  { id: 'gear-gender', load: (o) => loadGearGender(o) },
];

/** Every competitor id `loadCompetitors` accepts, in the comparison's order. All load offline. */
export const COMPETITOR_IDS: readonly string[] = ENTRIES.map((e) => e.id);

/** Loads the named competitors (default: all of them), in the order given. */
export async function loadCompetitors(ids: readonly string[] = COMPETITOR_IDS, options: GenderModelOptions = {}): Promise<GenderModel[]> {
  const entries = ids.map((id) => {
    const entry = ENTRIES.find((e) => e.id === id);
    if (!entry) throw new UsageError(`unknown competitor '${id}'; known: ${COMPETITOR_IDS.join(', ')}`);
    return entry;
  });
  const models: GenderModel[] = [];
  try {
    for (const entry of entries) models.push(await entry.load(options));
  } catch (err) {
    await Promise.all(models.map((m) => m.dispose()));
    throw err;
  }
  return models;
}
