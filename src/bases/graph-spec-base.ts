import type { ImageBatch, ImageSize } from '../data/image.js';
import type { Base, CropBox } from './base.js';
import { getPreprocessing, type Preprocessing } from './preprocess.js';
import type { GraphBaseSpec } from './tfjs-graph-base.js';

/** Images per forward pass unless a base is told otherwise; bounds memory on large batches. */
export const DEFAULT_MAX_BATCH = 32;

/**
 * What every base made from a GraphBaseSpec shares, whichever engine runs the graph: the spec's
 * description, its preprocessing and the slice size. The weights are constants in the graph, so
 * only a head on top trains.
 */
export abstract class GraphSpecBase implements Base {
  abstract readonly engine: Base['engine'];
  readonly trainable = false;
  readonly id: string;
  readonly architecture: string;
  readonly trainedOn: string;
  readonly inputSize: ImageSize;
  readonly crop?: CropBox;
  readonly preprocess: string;
  readonly dim: number;
  protected readonly preprocessing: Preprocessing;
  protected readonly maxBatch: number;

  constructor(
    spec: GraphBaseSpec,
    readonly weightsHash: string,
    /** model.json then its shards, resolved. */
    readonly weightsFiles: readonly string[],
    maxBatch: number | undefined,
  ) {
    this.id = spec.id;
    this.architecture = spec.architecture;
    this.trainedOn = spec.trainedOn;
    this.inputSize = spec.inputSize;
    if (spec.crop) this.crop = spec.crop;
    this.preprocess = spec.preprocess;
    this.dim = spec.dim;
    this.preprocessing = getPreprocessing(spec.preprocess);
    this.maxBatch = maxBatch ?? DEFAULT_MAX_BATCH;
  }

  abstract embed(batch: ImageBatch): Promise<Float32Array>;
  abstract dispose(): Promise<void>;
}
