import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSize } from '../data/image.js';
import { UsageError, WeightsError } from '../errors.js';
import type { GraphProgram } from './to-program.js';
import type { GraphWeight } from './nodes.js';

/**
 * A frozen graph base as a tfjs-layers model, the form fine-tuning needs: one layer that runs the
 * graph's program (to-program.ts) with the graph's weights held as layer weights, those
 * of the last N blocks trainable. Takes pixels already preprocessed for the base; outputs
 * [N, dim] features.
 */

const LAYER_NAME = 'graph_base';

/** tfjs-layers accepts weight names of letters, digits and `-._/` that start with a letter or digit. */
function weightName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9\-._/]/g, '_');
  return /^[A-Za-z0-9]/.test(cleaned) ? cleaned : `w${cleaned}`;
}

/** Index of the first trainable block when the last `trainableBlocks` of `blockCount` train. */
export function firstTrainableBlock(blockCount: number, trainableBlocks: number): number {
  if (!Number.isInteger(trainableBlocks) || trainableBlocks < 0 || trainableBlocks > blockCount) {
    throw new UsageError(`trainable blocks must be a whole number from 0 to ${blockCount} (the last N blocks), got ${trainableBlocks}`);
  }
  return blockCount - trainableBlocks;
}

interface GraphBaseLayerArgs {
  program: GraphProgram;
  /** Initial values, one per program parameter, in order. */
  values: readonly GraphWeight[];
  trainableBlocks: number;
  dim: number;
  inputSize: ImageSize;
}

export class GraphBaseLayer extends tfl.layers.Layer {
  static readonly className = 'FacegenderGraphBase';
  private readonly program: GraphProgram;
  private readonly initial: readonly GraphWeight[];
  private readonly dim: number;
  private readonly trainableParams: ReadonlySet<number>;
  private readonly firstTrainable: number;
  /** The layer's weights in program-parameter order (tfjs-layers lists trainable ones first). */
  private vars: tfl.LayerVariable[] = [];

  constructor(args: GraphBaseLayerArgs) {
    super({ name: LAYER_NAME, inputShape: [args.inputSize.height, args.inputSize.width, 3] });
    this.program = args.program;
    this.initial = args.values;
    this.dim = args.dim;
    this.firstTrainable = firstTrainableBlock(args.program.blocks.length, args.trainableBlocks);
    this.trainableParams = new Set(args.program.params.flatMap((p, i) => (p.block >= this.firstTrainable ? [i] : [])));
    if (args.values.length !== args.program.params.length) {
      throw new WeightsError(`the graph program has ${args.program.params.length} weights, ${args.values.length} values were given`);
    }
  }

  override build(): void {
    this.vars = this.program.params.map((p, i) => {
      const init = this.initial[i] as GraphWeight;
      if (init.shape.join(',') !== p.shape.join(',')) throw new WeightsError(`weight '${p.name}' has shape [${init.shape.join(', ')}], the graph wants [${p.shape.join(', ')}]`);
      // Zeros, overwritten at once: drawing random numbers for 3M weights would be wasted.
      const v = this.addWeight(weightName(p.name), p.shape, 'float32', tfl.initializers.zeros(), undefined, p.block >= this.firstTrainable);
      const value = tf.tensor(init.values as Float32Array, p.shape, 'float32');
      v.write(value);
      value.dispose();
      return v;
    });
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [shape[0] ?? null, this.dim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
    return this.program.run(
      x,
      this.vars.map((v) => v.read()),
      this.trainableParams,
    );
  }

  /** The current values of the parameters in blocks `first` and later, by graph node name. */
  weightsFrom(first: number): Map<string, GraphWeight> {
    const out = new Map<string, GraphWeight>();
    this.program.params.forEach((p, i) => {
      if (p.block < first) return;
      const v = this.vars[i] as tfl.LayerVariable;
      out.set(p.name, { dtype: 'float32', shape: [...p.shape], values: Float32Array.from(v.read().dataSync() as Float32Array) });
    });
    return out;
  }

  override getClassName(): string {
    return GraphBaseLayer.className;
  }
}

/**
 * The graph base as a model: [N, H, W, 3] preprocessed pixels → [N, dim]. `values` are the
 * program's parameters in order; the last `trainableBlocks` blocks train. Needs a running tfjs
 * backend (initTfjs).
 */
export function buildGraphBaseModel(program: GraphProgram, values: readonly GraphWeight[], options: { trainableBlocks: number; dim: number; inputSize: ImageSize; name: string }): tfl.Sequential {
  const model = tfl.sequential({ name: options.name });
  model.add(new GraphBaseLayer({ program, values, trainableBlocks: options.trainableBlocks, dim: options.dim, inputSize: options.inputSize }));
  return model;
}

/** The weights of blocks `first` and later out of a model from buildGraphBaseModel, by graph node name. */
export function readGraphBaseWeights(model: tfl.LayersModel, first: number): Map<string, GraphWeight> {
  const layer = model.layers.find((l): l is GraphBaseLayer => l instanceof GraphBaseLayer);
  if (!layer) throw new WeightsError(`model ${model.name} holds no graph base layer`);
  return layer.weightsFrom(first);
}
