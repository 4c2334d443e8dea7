import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Attribute, Dataset, Group } from 'h5wasm/node';
import { WeightsError } from '../../errors.js';

/** Which set of VGG16 conv weights: the two differ only in layer names and learned values. */
export type Vgg16Variant = 'vgg16-imagenet' | 'vggface';

export interface Vgg16ConvLayer {
  /** Layer name as Keras saved it for this variant. */
  name: string;
  inChannels: number;
  outChannels: number;
  /** Whether a 2x2 max pool follows this conv (the last conv of each block). */
  poolAfter: boolean;
}

export interface ConvWeights {
  layer: string;
  inChannels: number;
  outChannels: number;
  /** ONNX Conv layout [out, in, 3, 3]. */
  kernel: Float32Array;
  bias: Float32Array;
}

/** Channel widths of VGG16's 13 convs, grouped by block; each block ends with a max pool. */
const BLOCKS: readonly (readonly number[])[] = [
  [64, 64],
  [128, 128],
  [256, 256, 256],
  [512, 512, 512],
  [512, 512, 512],
];

function vgg16Layers(nameOf: (block: number, conv: number) => string): Vgg16ConvLayer[] {
  const layers: Vgg16ConvLayer[] = [];
  let inChannels = 3;
  BLOCKS.forEach((widths, b) => {
    widths.forEach((outChannels, c) => {
      layers.push({ name: nameOf(b + 1, c + 1), inChannels, outChannels, poolAfter: c === widths.length - 1 });
      inChannels = outChannels;
    });
  });
  return layers;
}

export const VGG16_CONV_LAYERS: Readonly<Record<Vgg16Variant, readonly Vgg16ConvLayer[]>> = {
  'vgg16-imagenet': vgg16Layers((b, c) => `block${b}_conv${c}`),
  vggface: vgg16Layers((b, c) => `conv${b}_${c}`),
};

export const KERNEL_SIZE = 3;

function attrStrings(attr: Attribute | undefined): string[] {
  if (!attr) return [];
  const value = attr.json_value;
  const items = Array.isArray(value) ? value : [value];
  return items.filter((v): v is string => typeof v === 'string');
}

/**
 * Reads a list attribute that h5py may have split into `name0`, `name1`, … because an HDF5
 * object header holds at most 64 KiB of attributes.
 */
function chunkedStringAttr(group: Group, name: string): string[] | undefined {
  const attrs = group.attrs;
  if (attrs[name]) return attrStrings(attrs[name]);
  if (!attrs[`${name}0`]) return undefined;
  const out: string[] = [];
  for (let i = 0; attrs[`${name}${i}`]; i++) out.push(...attrStrings(attrs[`${name}${i}`]));
  return out;
}

function isGroup(entity: unknown): entity is Group {
  return entity instanceof h5wasm.Group;
}

function isDataset(entity: unknown): entity is Dataset {
  return entity instanceof h5wasm.Dataset;
}

function collectDatasets(group: Group, out: Dataset[]): Dataset[] {
  for (const key of group.keys()) {
    const entity = group.get(key);
    if (isDataset(entity)) out.push(entity);
    else if (isGroup(entity)) collectDatasets(entity, out);
  }
  return out;
}

/** A layer's weights in Keras' saved order, which is [kernel, bias] for Conv2D. */
function layerDatasets(layerGroup: Group): Dataset[] {
  const names = chunkedStringAttr(layerGroup, 'weight_names');
  if (names === undefined) return collectDatasets(layerGroup, []);
  return names.map((n) => layerGroup.get(n)).filter(isDataset);
}

function shapeText(shape: readonly number[] | null | undefined): string {
  return shape ? `[${shape.join(', ')}]` : 'none';
}

function toFloat32(data: unknown, file: string, what: string): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Float64Array) return Float32Array.from(data);
  throw new WeightsError(`${what} is not stored as float32 or float64`, file);
}

/** Keras stores conv kernels as [kh, kw, in, out]; ONNX Conv wants [out, in, kh, kw]. */
export function kerasKernelToOnnx(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const srcBase = ((y * kw + x) * cin + i) * cout;
        const dstBase = (i * kh + y) * kw + x;
        for (let o = 0; o < cout; o++) dst[o * cin * kh * kw + dstBase] = src[srcBase + o] as number;
      }
    }
  }
  return dst;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Checked before h5wasm opens the file because the HDF5 library answers a non-HDF5 file with a
 * page of diagnostics on stderr and a meaningless message. The superblock may sit after a user
 * block, at 0, 512, 1024, 2048, … bytes.
 */
async function hasHdf5Signature(file: string): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch {
    throw new WeightsError('weights file does not exist or cannot be read', file);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new WeightsError('weights path is not a file', file);
    const { size } = stats;
    const probe = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let offset = 0; offset + probe.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      await handle.read(probe, 0, probe.length, offset);
      if (probe.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    await handle.close();
  }
}

function likelyVariant(layerNames: readonly string[]): Vgg16Variant | undefined {
  return (Object.keys(VGG16_CONV_LAYERS) as Vgg16Variant[]).find((v) =>
    VGG16_CONV_LAYERS[v].every((l) => layerNames.includes(l.name)),
  );
}

interface LayerDatasets {
  spec: Vgg16ConvLayer;
  kernel: Dataset;
  bias: Dataset;
}

/** Finds a conv layer's kernel and bias and checks their shapes, without reading values yet. */
function locateConvLayer(root: Group, spec: Vgg16ConvLayer, file: string): LayerDatasets {
  const group = root.get(spec.name);
  if (!isGroup(group)) throw new WeightsError(`layer ${spec.name} is listed in layer_names but has no weights group`, file);
  const datasets = layerDatasets(group);
  const expectedKernel = [KERNEL_SIZE, KERNEL_SIZE, spec.inChannels, spec.outChannels];
  const expectedBias = [spec.outChannels];
  const kernel = datasets.find((d) => d.shape?.length !== 1) ?? datasets[0];
  const bias = datasets.find((d) => d !== kernel && d.shape?.length === 1);
  if (datasets.length !== 2 || !kernel || !bias) {
    throw new WeightsError(
      `layer ${spec.name}: expected a conv kernel ${shapeText(expectedKernel)} and a bias ${shapeText(expectedBias)}, ` +
        `found ${datasets.length} weight(s) with shapes ${datasets.map((d) => shapeText(d.shape)).join(', ') || 'none'}`,
      file,
    );
  }
  const kernelShape = kernel.shape ?? [];
  if (kernelShape.length !== 4 || kernelShape.some((d, i) => d !== expectedKernel[i])) {
    throw new WeightsError(
      `layer ${spec.name}: kernel ${kernel.path} has shape ${shapeText(kernelShape)}, expected ${shapeText(expectedKernel)}`,
      file,
    );
  }
  if (bias.shape?.[0] !== spec.outChannels) {
    throw new WeightsError(
      `layer ${spec.name}: bias ${bias.path} has shape ${shapeText(bias.shape)}, expected ${shapeText(expectedBias)}`,
      file,
    );
  }
  return { spec, kernel, bias };
}

function readConvLayer({ spec, kernel, bias }: LayerDatasets, file: string): ConvWeights {
  const kernelValues = toFloat32(kernel.value, file, `layer ${spec.name} kernel`);
  const biasValues = toFloat32(bias.value, file, `layer ${spec.name} bias`);
  return {
    layer: spec.name,
    inChannels: spec.inChannels,
    outChannels: spec.outChannels,
    kernel: kerasKernelToOnnx(kernelValues, KERNEL_SIZE, KERNEL_SIZE, spec.inChannels, spec.outChannels),
    bias: Float32Array.from(biasValues),
  };
}

/**
 * Reads VGG16's 13 conv layers from a Keras .h5 file: a weights-only save (layers at the root)
 * or a whole-model save (layers under `model_weights`). Other layers, such as a fully
 * connected top, are ignored.
 */
export async function readVgg16ConvWeights(path: string, variant: Vgg16Variant): Promise<ConvWeights[]> {
  const file = resolve(path);
  if (!(await hasHdf5Signature(file))) throw new WeightsError('not an HDF5 (.h5) file', file);
  await h5wasm.ready;
  let h5: InstanceType<typeof h5wasm.File>;
  try {
    h5 = new h5wasm.File(file, 'r');
  } catch {
    throw new WeightsError('HDF5 library could not open the file (damaged or truncated?)', file);
  }
  try {
    const nested = h5.get('model_weights');
    const root: Group = isGroup(nested) ? nested : h5;
    // Keras loads only the layers listed here, so a group left out of the list counts as missing.
    const layerNames = chunkedStringAttr(root, 'layer_names');
    if (layerNames === undefined) {
      throw new WeightsError(
        `no layer_names attribute at ${root.path}: not a Keras weights file (save with model.save_weights or model.save to .h5)`,
        file,
      );
    }
    const expected = VGG16_CONV_LAYERS[variant];
    const missing = expected.filter((l) => !layerNames.includes(l.name));
    if (missing.length > 0) {
      const other = likelyVariant(layerNames);
      const hint = other && other !== variant ? ` (its layer names are those of the ${other} layout)` : '';
      const first = missing[0] as Vgg16ConvLayer;
      throw new WeightsError(
        `missing VGG16 conv layer ${first.name} (expected kernel ${shapeText([KERNEL_SIZE, KERNEL_SIZE, first.inChannels, first.outChannels])}, found none; ` +
          `${missing.length} of ${expected.length} conv layers missing for ${variant})${hint}`,
        file,
      );
    }
    // Every shape is checked before any value is read, so a bad file fails fast.
    const located = expected.map((spec) => locateConvLayer(root, spec, file));
    return located.map((l) => readConvLayer(l, file));
  } finally {
    h5.close();
  }
}

