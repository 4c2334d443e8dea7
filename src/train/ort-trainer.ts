import * as tfc from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { UsageError } from '../errors.js';
import { NamedOnnxSession, type FloatTensor } from '../runtime/onnx/named-session.js';
import { buildTrainingGraph, DROPOUT_MASK, gradName, LABELS, LOSS, PIXELS, PROBS, trainParams, type InputGradMethod, type ParamInfo, type PoolGradMethod, type TrainLayer, type WeightGradMethod } from '../runtime/onnx/sequential-training.js';

/**
 * Trains a tfjs-layers classifier (the custom CNN and the study's head) in ONNX Runtime on all
 * cores: the model's layers become an ONNX training graph (runtime/onnx/sequential-training.ts),
 * its weights are read out, trained here with Adam exactly as tfjs computes it, and written back
 * into the model, which is then saved and used as any tfjs model. tfjs' wasm backend runs one
 * thread in Node; this runs the same step 5 to 7x faster on two cores (the README's table).
 */

/** Where a trainable layer's weights live: its tfjs layer, and the ONNX names of kernel and bias. */
interface Slot {
  layer: tfl.layers.Layer;
  kernel: ParamInfo;
  bias: ParamInfo;
  conv: boolean;
}

const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

function config(layer: tfl.layers.Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

const same = (a: unknown, b: readonly number[]): boolean => Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);

/** Leaf layers in order, entering nested sequential models (the custom CNN is one layer of its classifier). */
function leafLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  return model.layers.flatMap((l) => ('layers' in l && Array.isArray((l as unknown as tfl.LayersModel).layers) ? leafLayers(l as unknown as tfl.LayersModel) : [l]));
}

/** The model as TrainLayers, or a clear error naming the first layer the ONNX trainer cannot run. */
export function describeForOnnx(model: tfl.LayersModel): { layers: TrainLayer[]; dropoutRate: number; slots: Array<{ layer: tfl.layers.Layer; conv: boolean; name: string }> } {
  const layers: TrainLayer[] = [];
  const slots: Array<{ layer: tfl.layers.Layer; conv: boolean; name: string }> = [];
  let dropoutRate = 0;
  const unsupported = (l: tfl.layers.Layer, why: string) =>
    new UsageError(`the ONNX Runtime trainer cannot train layer ${l.name} (${l.getClassName()}): ${why}; train with the tfjs engine instead`);
  for (const l of leafLayers(model)) {
    const c = config(l);
    switch (l.getClassName()) {
      case 'Rescaling':
        if (c.offset !== 0) throw unsupported(l, 'a non-zero offset');
        layers.push({ kind: 'scale', factor: c.scale as number });
        break;
      case 'Conv2D': {
        const [kh, kw, cin, cout] = (l.getWeights()[0] as tfc.Tensor).shape as number[];
        if (kh !== 3 || kw !== 3 || !same(c.strides, [1, 1]) || c.padding !== 'same' || c.activation !== 'relu' || !c.useBias || c.dataFormat !== 'channelsLast' || !same(c.dilationRate, [1, 1])) {
          throw unsupported(l, "only 3x3, stride 1, 'same', ReLU convolutions with a bias are built");
        }
        const name = `conv${slots.length}`;
        layers.push({ kind: 'conv3x3-relu', name, inChannels: cin as number, outChannels: cout as number });
        slots.push({ layer: l, conv: true, name });
        break;
      }
      case 'MaxPooling2D':
        if (!same(c.poolSize, [2, 2]) || !same(c.strides, [2, 2]) || c.padding !== 'valid') throw unsupported(l, "only 2x2 pools of stride 2, 'valid', are built");
        layers.push({ kind: 'maxpool2' });
        break;
      case 'GlobalAveragePooling2D':
        layers.push({ kind: 'global-average-pool' });
        break;
      case 'Dense': {
        const [inUnits, outUnits] = (l.getWeights()[0] as tfc.Tensor).shape as number[];
        if ((c.activation !== 'relu' && c.activation !== 'sigmoid') || !c.useBias) throw unsupported(l, 'only Dense layers with a bias and relu or sigmoid are built');
        const name = `dense${slots.length}`;
        layers.push({ kind: 'dense', name, inUnits: inUnits as number, outUnits: outUnits as number, activation: c.activation });
        slots.push({ layer: l, conv: false, name });
        break;
      }
      case 'Dropout':
        if (dropoutRate > 0) throw unsupported(l, 'one dropout layer at most');
        dropoutRate = c.rate as number;
        if (!(dropoutRate > 0)) break;
        layers.push({ kind: 'dropout' });
        break;
      default:
        throw unsupported(l, 'this kind of layer is not built');
    }
  }
  return { layers, dropoutRate, slots };
}

/** tfjs' conv kernel [kh, kw, in, out] → ONNX [out, in, kh, kw], and back. */
export function hwioToOihw(k: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) for (let o = 0; o < cout; o++) out[((o * cin + c) * kh + i) * kw + j] = k[((i * kw + j) * cin + c) * cout + o] as number;
  return out;
}

export function oihwToHwio(k: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) for (let o = 0; o < cout; o++) out[((i * kw + j) * cin + c) * cout + o] = k[((o * cin + c) * kh + i) * kw + j] as number;
  return out;
}

export interface OrtTrainerOptions {
  /** Square or rectangular input of the model, in pixels. */
  height: number;
  width: number;
  /** Adam's learning rate. */
  lr: number;
  /** ONNX Runtime intra-op threads (default 2). */
  threads?: number;
  weightGrad?: WeightGradMethod;
  inputGrad?: InputGradMethod;
  poolGrad?: PoolGradMethod;
}

export interface StepResult {
  loss: number;
  accuracy: number;
}

/**
 * One model in training: its weights in ONNX layout, Adam's moments, and two sessions (a
 * training step, and inference for validation).
 */
export class OrtTrainer {
  private accBeta1 = Math.fround(ADAM.beta1);
  private accBeta2 = Math.fround(ADAM.beta2);
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];

  private constructor(
    private readonly train: NamedOnnxSession,
    private readonly infer: NamedOnnxSession,
    private readonly params: ParamInfo[],
    /** Current weights, in the order of `params`. */
    private weights: Float32Array[],
    private readonly slots: Slot[],
    private readonly dropout: { rate: number; units: number },
    private readonly options: OrtTrainerOptions,
  ) {
    this.m = weights.map((w) => new Float32Array(w.length));
    this.v = weights.map((w) => new Float32Array(w.length));
  }

  /** Reads the model's layers and current weights; throws a UsageError for a model it cannot build. */
  static async create(model: tfl.LayersModel, options: OrtTrainerOptions): Promise<OrtTrainer> {
    if (!(options.lr > 0)) throw new UsageError(`learning rate must be > 0, got ${options.lr}`);
    const { layers, dropoutRate, slots } = describeForOnnx(model);
    const params = trainParams(layers);
    const byName = new Map(params.map((p) => [p.name, p]));
    const fullSlots: Slot[] = slots.map((s) => ({ layer: s.layer, conv: s.conv, kernel: byName.get(`${s.name}/kernel`) as ParamInfo, bias: byName.get(`${s.name}/bias`) as ParamInfo }));
    const weights: Float32Array[] = [];
    for (const s of fullSlots) {
      const [kernel, bias] = s.layer.getWeights().map((t) => t.dataSync() as Float32Array) as [Float32Array, Float32Array];
      const [o, c, kh, kw] = s.kernel.dims as [number, number, number, number];
      weights.push(s.conv ? hwioToOihw(kernel, kh, kw, c, o) : Float32Array.from(kernel), Float32Array.from(bias));
    }
    const dropoutLayer = layers.findIndex((l) => l.kind === 'dropout');
    const before = layers.slice(0, dropoutLayer).reverse().find((l) => l.kind === 'dense');
    const dropout = { rate: dropoutRate, units: dropoutLayer >= 0 && before?.kind === 'dense' ? before.outUnits : 0 };
    const graph = { height: options.height, width: options.width, ...(options.weightGrad ? { weightGrad: options.weightGrad } : {}), ...(options.inputGrad ? { inputGrad: options.inputGrad } : {}), ...(options.poolGrad ? { poolGrad: options.poolGrad } : {}) };
    const threads = options.threads;
    const train = await NamedOnnxSession.create(buildTrainingGraph(layers, { ...graph, mode: 'train' }), { label: 'training graph', ...(threads ? { threads } : {}) });
    const infer = await NamedOnnxSession.create(buildTrainingGraph(layers, { ...graph, mode: 'infer' }), { label: 'inference graph', ...(threads ? { threads } : {}) });
    return new OrtTrainer(train, infer, params, weights, fullSlots, dropout, options);
  }

  private feeds(pixels: Float32Array, n: number): Record<string, FloatTensor> {
    const { height, width } = this.options;
    if (pixels.length !== n * height * width * 3) throw new UsageError(`batch holds ${pixels.length} values, expected ${n}x${height}x${width}x3`);
    const feeds: Record<string, FloatTensor> = { [PIXELS]: { data: pixels, dims: [n, height, width, 3] } };
    this.params.forEach((p, i) => (feeds[p.name] = { data: this.weights[i] as Float32Array, dims: p.dims }));
    return feeds;
  }

  /**
   * Tfjs' Dropout mask for an [n, units] input, drawn as tfjs draws it (randomUniform seeded from
   * Math.random, then floor(u + keep) / keep): under the same seeded Math.random, both engines drop
   * the same units.
   */
  drawDropoutMask(n: number): Float32Array {
    const keep = 1 - this.dropout.rate;
    return tfc.tidy(() => tfc.div(tfc.floor(tfc.add(tfc.randomUniform([n, this.dropout.units], 0, 1, 'float32'), keep)), keep).dataSync() as Float32Array);
  }

  /** One step of Adam on a batch of NHWC pixels with 0/1 labels, like tfjs' trainOnBatch; returns its loss and accuracy before the update. */
  async trainOnBatch(pixels: Float32Array, labels: Float32Array, n: number, mask?: Float32Array): Promise<StepResult> {
    const feeds = this.feeds(pixels, n);
    feeds[LABELS] = { data: labels, dims: [n, 1] };
    if (this.dropout.units > 0) feeds[DROPOUT_MASK] = { data: mask ?? this.drawDropoutMask(n), dims: [n, this.dropout.units] };
    const out = await this.train.run(feeds);
    this.adam(this.params.map((p) => out[gradName(p.name)] as Float32Array));
    const probs = out[PROBS] as Float32Array;
    let right = 0;
    for (let i = 0; i < n; i++) if (((probs[i] as number) > 0.5 ? 1 : 0) === labels[i]) right++;
    return { loss: (out[LOSS] as Float32Array)[0] as number, accuracy: right / n };
  }

  /** The gradients of one batch without updating anything (for tests). */
  async gradients(pixels: Float32Array, labels: Float32Array, n: number, mask: Float32Array): Promise<Record<string, Float32Array>> {
    const feeds = this.feeds(pixels, n);
    feeds[LABELS] = { data: labels, dims: [n, 1] };
    if (this.dropout.units > 0) feeds[DROPOUT_MASK] = { data: mask, dims: [n, this.dropout.units] };
    return this.train.run(feeds);
  }

  /**
   * tfjs' Adam, in float32 as tfjs computes it (each operation rounded): the moments, their bias
   * correction by beta^t, and the step lr * m̂ / (sqrt(v̂) + epsilon).
   */
  private adam(grads: Float32Array[]): void {
    const f = Math.fround;
    const b1 = f(ADAM.beta1);
    const b2 = f(ADAM.beta2);
    const c1 = f(1 - ADAM.beta1);
    const c2 = f(1 - ADAM.beta2);
    const eps = f(ADAM.epsilon);
    const negLr = f(-this.options.lr);
    const oneMinusAcc1 = f(1 - this.accBeta1);
    const oneMinusAcc2 = f(1 - this.accBeta2);
    grads.forEach((g, k) => {
      const w = this.weights[k] as Float32Array;
      const m = this.m[k] as Float32Array;
      const v = this.v[k] as Float32Array;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] as number;
        const mi = f(f((m[i] as number) * b1) + f(gi * c1));
        const vi = f(f((v[i] as number) * b2) + f(f(gi * gi) * c2));
        m[i] = mi;
        v[i] = vi;
        const update = f(f(mi / oneMinusAcc1) / f(f(Math.sqrt(f(vi / oneMinusAcc2))) + eps));
        w[i] = f(update * negLr) + (w[i] as number);
      }
    });
    this.accBeta1 = f(this.accBeta1 * b1);
    this.accBeta2 = f(this.accBeta2 * b2);
  }

  /** Probabilities of class 1 in inference mode (no dropout), `chunk` images per run. */
  async predict(pixels: Float32Array, n: number, chunk = 64): Promise<Float32Array> {
    const per = this.options.height * this.options.width * 3;
    const out = new Float32Array(n);
    for (let start = 0; start < n; start += chunk) {
      const size = Math.min(chunk, n - start);
      const r = await this.infer.run(this.feeds(pixels.subarray(start * per, (start + size) * per), size), [PROBS]);
      out.set(r[PROBS] as Float32Array, start);
    }
    return out;
  }

  /** A copy of the current weights. */
  snapshot(): Float32Array[] {
    return this.weights.map((w) => Float32Array.from(w));
  }

  /** Puts weights from `snapshot()` back (Adam's moments are left as they are, as tfjs' setWeights does). */
  restore(weights: Float32Array[]): void {
    this.weights = weights.map((w) => Float32Array.from(w));
  }

  /** Writes the current weights into the tfjs model the trainer was made from. */
  writeTo(): void {
    this.slots.forEach((s, i) => {
      const kernel = this.weights[2 * i] as Float32Array;
      const bias = this.weights[2 * i + 1] as Float32Array;
      const [o, c, kh, kw] = s.kernel.dims as [number, number, number, number];
      const k = s.conv ? tfc.tensor4d(oihwToHwio(kernel, kh, kw, c, o), [kh, kw, c, o]) : tfc.tensor2d(kernel, s.kernel.dims as [number, number]);
      const b = tfc.tensor1d(bias);
      s.layer.setWeights([k, b]);
      tfc.dispose([k, b]);
    });
  }

  async dispose(): Promise<void> {
    await this.train.dispose();
    await this.infer.dispose();
  }
}
