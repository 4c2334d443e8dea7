import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { ImageBatch, ImageSize } from '../data/image.js';
import { WeightsError } from '../errors.js';
import { convertGraphModelFile } from '../graph/read-graph.js';
import type { ConvertedGraph, GraphToOnnxOptions } from '../graph/to-onnx.js';
import { openOnnxSession, type OnnxThread } from '../runtime/onnx/open-session.js';
import type { OnnxRunner } from '../runtime/onnx/session.js';
import { initTfjs } from '../runtime/tfjs/backend.js';
import { loadGraphModelFile, resolvePackageFile } from '../runtime/tfjs/graph-loader.js';
import type { Base, CropBox } from './base.js';
import { DEFAULT_MAX_BATCH, embedInSlices, tfjsSliceRunner, type SliceRunner } from './embed-loop.js';
import { getPreprocessing, type Preprocessing } from './preprocess.js';
import { resolveGraphSpec, type GraphBaseOverrides, type GraphBaseSpec, type TfjsBaseOptions } from './spec.js';

/**
 * A frozen tfjs graph model (a GraphBaseSpec) as a base, on either engine. ONNX Runtime runs the
 * graph converted to ONNX (graph/to-onnx.ts) several times faster than single-threaded
 * tfjs-wasm, with the same weight files (so the same weightsHash) and the same features within
 * float rounding (test/graph/to-onnx.test.ts), so it is the default wherever the converter
 * supports the graph up to the feature node. The weights are constants in the graph, so only a
 * head on top trains (fine-tunable-graph-base.ts adds fine-tuning).
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

  protected abstract runSlice: SliceRunner;

  embed(batch: ImageBatch): Promise<Float32Array> {
    return embedInSlices({ id: this.id, inputSize: this.inputSize, dim: this.dim, maxBatch: this.maxBatch, preprocess: (p) => this.preprocessing.apply(p), run: this.runSlice }, batch);
  }

  abstract dispose(): Promise<void>;
}

export class TfjsGraphBase extends GraphSpecBase {
  readonly engine = 'tfjs' as const;
  protected readonly runSlice: SliceRunner;

  constructor(
    spec: GraphBaseSpec,
    weightsHash: string,
    weightsFiles: readonly string[],
    private readonly model: GraphModel,
    featureNode: string,
    pooling: GraphBaseSpec['pooling'],
    options: TfjsBaseOptions,
  ) {
    super(spec, weightsHash, weightsFiles, options.maxBatch);
    this.runSlice = tfjsSliceRunner(spec.inputSize, (x) => {
      const y = this.model.execute(x, featureNode) as tf.Tensor;
      return pooling === 'global-average' ? tf.mean(y, [1, 2]) : y;
    });
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

export interface OnnxGraphBaseOptions {
  /** Images per forward pass; bounds memory on large batches. Default 32. */
  maxBatch?: number;
  /** ONNX Runtime intra-op threads; default 2. */
  threads?: number;
  /** Where ONNX Runtime runs the graph; default the main thread. */
  onnxThread?: OnnxThread;
}

export class OnnxGraphBase extends GraphSpecBase {
  readonly engine = 'onnxruntime' as const;
  protected readonly runSlice: SliceRunner;

  constructor(
    spec: GraphBaseSpec,
    weightsHash: string,
    weightsFiles: readonly string[],
    private readonly session: OnnxRunner,
    options: OnnxGraphBaseOptions = {},
  ) {
    super(spec, weightsHash, weightsFiles, options.maxBatch);
    const { height, width } = spec.inputSize;
    // Preprocessing returns a new array (preprocess.ts), so the pixels are ours to move to a worker.
    this.runSlice = async (pixels, count) => (await this.session.run(pixels, [count, height, width, 3], { handOver: true })).data;
  }

  get threads(): number {
    return this.session.threads;
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

/**
 * Loads a graph-model base on tfjs from its package, applying any overrides to the spec.
 * loadGraphBase chooses between this and ONNX Runtime.
 */
export async function loadTfjsGraphBase(spec: GraphBaseSpec, overrides: GraphBaseOverrides = {}): Promise<TfjsGraphBase> {
  const effective = resolveGraphSpec(spec, overrides);
  const file = resolvePackageFile(spec.model);
  await initTfjs({ backend: overrides.backend });
  const loaded = await loadGraphModelFile(file, { freeSpatial: spec.anyInputSize ?? false });
  if (!loaded.nodeNames.has(spec.featureNode)) {
    loaded.model.dispose();
    throw new WeightsError(`has no node '${spec.featureNode}' to read ${spec.id} features from`, file);
  }
  return new TfjsGraphBase(effective, loaded.weightsHash, loaded.files, loaded.model, spec.featureNode, spec.pooling, overrides);
}

/** Checks a converted graph gives `spec.dim` features and opens it in ONNX Runtime; `label` names it in errors. */
export async function openGraphSession(spec: GraphBaseSpec, converted: ConvertedGraph, label: string, run: Pick<OnnxGraphBaseOptions, 'threads' | 'onnxThread'> = {}): Promise<OnnxRunner> {
  const perImage = converted.outputShape.slice(1).reduce((a, b) => a * b, 1);
  if (perImage > 0 && perImage !== spec.dim) {
    throw new WeightsError(`node '${spec.featureNode}' gives ${perImage} features per image, but ${spec.id} expects ${spec.dim}`, label);
  }
  return openOnnxSession(converted.model, {
    label: `${label} (converted to ONNX up to ${spec.featureNode})`,
    ...(run.threads !== undefined ? { threads: run.threads } : {}),
    ...(run.onnxThread !== undefined ? { thread: run.onnxThread } : {}),
  });
}

/** The conversion options for a spec (already carrying any overrides). */
export function graphSpecConversion(spec: GraphBaseSpec): Omit<GraphToOnnxOptions, 'label'> {
  return { outputNode: spec.featureNode, pooling: spec.pooling, inputSize: spec.inputSize };
}

/**
 * Converts the spec's graph (the spec already carrying any overrides) and opens it in ONNX
 * Runtime. Throws a GraphConversionError naming the node when the graph uses an op the converter lacks.
 */
export async function loadOnnxGraphBase(spec: GraphBaseSpec, modelJsonPath: string, options: OnnxGraphBaseOptions = {}): Promise<OnnxGraphBase> {
  const { converted, files, weightsHash } = await convertGraphModelFile(modelJsonPath, graphSpecConversion(spec));
  const session = await openGraphSession(spec, converted, modelJsonPath, options);
  return new OnnxGraphBase(spec, weightsHash, files, session, options);
}
