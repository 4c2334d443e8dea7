import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { imageBatches } from '../data/batches.js';
import type { CropBox, ImageSize } from '../data/image.js';
import { UsageError, WeightsError } from '../errors.js';
import type { GenderModel, GenderModelOptions, GenderScores } from './gender-model.js';
import { getPreprocessing, type Preprocessing } from '../bases/preprocess.js';
import { initTfjs } from '../runtime/tfjs/backend.js';
import { loadGraphModelFile, resolvePackageFile } from '../runtime/tfjs/graph-loader.js';

/** A gender output of a frozen tfjs graph shipped in a package, and how to feed the graph. */
export interface GraphGenderSpec {
  id: string;
  architecture: string;
  weights: string;
  /** Package specifier of the model.json. */
  model: string;
  /** The node whose value holds the gender output. */
  outputNode: string;
  /** Values per image at `outputNode`. */
  outputWidth: number;
  /** Which of those values is P(Male). */
  maleIndex: number;
  inputSize: ImageSize;
  /** Part of each image cut before resizing; absent: the whole image. */
  crop?: CropBox;
  /** A name from PREPROCESSING, applied to 0..255 RGB. */
  preprocess: string;
  threshold: number;
  /** How the crop and preprocessing were chosen, for the comparison's notes. */
  notes: string;
}

export class GraphGenderModel implements GenderModel {
  readonly id: string;
  readonly architecture: string;
  readonly weights: string;
  private readonly preprocessing: Preprocessing;

  constructor(
    readonly spec: GraphGenderSpec,
    private readonly model: GraphModel,
    readonly weightsHash: string,
    private readonly options: GenderModelOptions,
  ) {
    this.id = spec.id;
    this.architecture = spec.architecture;
    this.weights = spec.weights;
    this.preprocessing = getPreprocessing(spec.preprocess);
  }

  async score(files: string[]): Promise<GenderScores> {
    const { inputSize, outputNode, outputWidth, maleIndex } = this.spec;
    const probs = new Float32Array(files.length);
    const stream = imageBatches(files, {
      ...this.options.decode,
      batchSize: this.options.batchSize ?? 16,
      size: inputSize,
      ...(this.spec.crop ? { crop: this.spec.crop } : {}),
      ...(this.options.onProgress ? { onProgress: this.options.onProgress } : {}),
    });
    for await (const { batch, indices } of stream) {
      const out = tf.tidy(() => {
        const x = tf.tensor4d(this.preprocessing.apply(batch.data), [batch.n, inputSize.height, inputSize.width, 3]);
        return tf.reshape(this.model.execute(x, outputNode) as tf.Tensor, [batch.n, -1]);
      });
      try {
        if (out.shape[1] !== outputWidth) {
          throw new WeightsError(`${this.id}: node '${outputNode}' gave ${out.shape[1]} values per image, expected ${outputWidth}`, this.spec.model);
        }
        const values = await out.data();
        indices.forEach((index, k) => {
          probs[index] = values[k * outputWidth + maleIndex] as number;
        });
      } finally {
        out.dispose();
      }
    }
    return { probs, threshold: this.spec.threshold, notes: this.spec.notes };
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

/** Loads a package's graph and checks it has the gender node. */
export async function loadGraphGenderModel(spec: GraphGenderSpec, options: GenderModelOptions = {}): Promise<GraphGenderModel> {
  if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize > 0)) {
    throw new UsageError(`${spec.id}: batchSize must be a whole number ≥ 1, got ${options.batchSize}`);
  }
  getPreprocessing(spec.preprocess);
  const file = resolvePackageFile(spec.model);
  await initTfjs({ backend: options.backend });
  const loaded = await loadGraphModelFile(file);
  if (!loaded.nodeNames.has(spec.outputNode)) {
    loaded.model.dispose();
    throw new WeightsError(`has no node '${spec.outputNode}' to read ${spec.id}'s gender output from`, file);
  }
  return new GraphGenderModel(spec, loaded.model, loaded.weightsHash, options);
}
