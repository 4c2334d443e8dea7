/**
 * Training throughput of the custom CNN with the study's dense head: tfjs (wasm, one thread),
 * our ONNX Runtime training graph, and PyTorch as the reference, in the same run.
 *
 *   npm run bench:custom-cnn -- [options]
 *
 * Options: --sizes 64,112,224  --batch 64  --steps 3  --tfjs-steps 1  --threads 2
 *          --engines tfjs,onnxruntime  --weight-grad auto|im2col-gemm|shifted
 *          --pool-grad indices|mask|unpool
 *          --input-grad conv-flipped|conv-transpose  --rounds 2  --tfjs-micro-batch 16  --no-torch
 *          --backend wasm|cpu  --profile
 * One step is forward + backward + Adam on a batch of random pixels (speed does not depend on
 * them), the study's head (Dense 256, Dense 128, Dropout 0.4, Dense 1) and batch. Each figure is
 * images/s of the median step after a warm-up step; tfjs takes `--tfjs-steps` timed steps (one by
 * default: a step takes most of a minute at 224 px), and above 112 px runs the batch in
 * micro-batches of `--tfjs-micro-batch` with summed gradients (the same update; wasm's 4 GB heap
 * does not hold 64 images at 224 px). PyTorch (Debian's python3-torch, same network, Adam and
 * threads) is run in both memory layouts and the faster counts; without it the ratios are left
 * out with a note. ONNX Runtime and PyTorch are measured one after the other for each size,
 * `--rounds` times, and each keeps its best round: on a shared machine a busy moment then lowers
 * neither.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tfl from '@tensorflow/tfjs-layers';
import { createCustomCnn } from '../src/zoo/custom-cnn/network.js';
import { initTfjs, tfjsRuntimeInfo } from '../src/runtime/tfjs/backend.js';
import { createHead } from '../src/train/head.js';
import { OrtTrainer } from '../src/train/ort-trainer.js';
import { trainOnBatchInMicroBatches } from '../src/train/micro-batch-step.js';
import type { InputGradMethod, PoolGradMethod, WeightGradMethod } from '../src/runtime/onnx/sequential-training.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '64,112,224' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '3' },
    'tfjs-steps': { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    engines: { type: 'string', default: 'tfjs,onnxruntime' },
    'weight-grad': { type: 'string', default: 'auto' },
    'pool-grad': { type: 'string', default: 'indices' },
    'input-grad': { type: 'string', default: 'conv-flipped' },
    rounds: { type: 'string', default: '2' },
    'tfjs-micro-batch': { type: 'string', default: '16' },
    'no-torch': { type: 'boolean', default: false },
    backend: { type: 'string', default: 'wasm' },
    profile: { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
const batch = Number(values.batch);
const steps = Number(values.steps);
const tfjsSteps = Number(values['tfjs-steps']);
const rounds = Number(values.rounds);
const tfjsMicroBatch = Number(values['tfjs-micro-batch']);
const threads = Number(values.threads);
const engines = values.engines.split(',');
const weightGrad = values['weight-grad'] as WeightGradMethod;
const inputGrad = values['input-grad'] as InputGradMethod;
const poolGrad = values['pool-grad'] as PoolGradMethod;
const backend = values.backend === 'cpu' ? 'cpu' : 'wasm';

const tf = await initTfjs({ backend });
const tfjsInfo = await tfjsRuntimeInfo();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '—' : x.toFixed(digits));

/** The custom CNN and the study's head, as trainEndToEnd builds them. */
function classifier(size: number): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(createCustomCnn({ inputSize: size, seed: 1 }).model);
  for (const layer of createHead(512).layers) model.add(layer);
  return model;
}

function randomBatch(size: number): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(batch * size * size * 3);
  for (let i = 0; i < x.length; i++) x[i] = Math.random() * 255;
  return { x, y: Float32Array.from({ length: batch }, (_, i) => i % 2) };
}

/** Images/s of the median of `timed` steps after one warm-up step. */
async function rate(timed: number, step: () => Promise<unknown>): Promise<number> {
  await step();
  const ms: number[] = [];
  for (let i = 0; i < timed; i++) {
    const t0 = performance.now();
    await step();
    ms.push(performance.now() - t0);
  }
  return (batch * 1000) / median(ms);
}

async function tfjsRate(size: number): Promise<number> {
  const model = classifier(size);
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const { x, y } = randomBatch(size);
  const xs = tf.tensor4d(x, [batch, size, size, 3]);
  const ys = tf.tensor2d(y, [batch, 1]);
  const step = size > 112 ? () => trainOnBatchInMicroBatches(model, xs, ys, tfjsMicroBatch) : () => model.trainOnBatch(xs, ys);
  try {
    if (values.profile) await printProfile(size, step);
    return await rate(tfjsSteps, step);
  } finally {
    tf.dispose([xs, ys]);
    model.optimizer.dispose();
    model.dispose();
  }
}

async function printProfile(size: number, step: () => Promise<unknown>): Promise<void> {
  await step();
  const profile = await tf.profile(async () => {
    await step();
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of profile.kernels) {
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += Number(k.kernelTimeMs);
    entry.calls += 1;
    byKernel.set(k.name, entry);
  }
  console.log(`tfjs profile at ${size}px (nested kernels are counted inside their callers too):`);
  for (const [name, { ms, calls }] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
    console.log(`  ${name.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  x${calls}`);
  }
}

async function ortRate(size: number): Promise<number> {
  const model = classifier(size);
  const trainer = await OrtTrainer.create(model, { height: size, width: size, lr: 1e-3, threads, weightGrad, inputGrad, poolGrad });
  const { x, y } = randomBatch(size);
  try {
    return await rate(steps, () => trainer.trainOnBatch(x, y, batch));
  } finally {
    await trainer.dispose();
    model.dispose();
  }
}

/** Debian's python3-torch lives beside Debian's interpreter, which a pyenv or venv python3 on the PATH would hide. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const TORCH_SCRIPT = fileURLToPath(new URL('./tools/custom-cnn-torch.py', import.meta.url));

interface TorchResult {
  version: string;
  threads: number;
  sizes: Record<string, { nchw: number; channels_last: number }>;
}

function torchMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.error) return `python3 could not run (${probe.error.message})`;
  if (probe.status !== 0) return "PyTorch is not installed (Debian's python3-torch); `python3 -c \"import torch\"` fails";
  return undefined;
}

function runTorch(size: number): TorchResult | string {
  const run = spawnSync(PYTHON, [TORCH_SCRIPT, String(threads), String(steps), String(batch), String(size)], {
    encoding: 'utf8',
    timeout: 1_800_000,
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (run.status !== 0) return `the PyTorch script failed (${run.error?.message ?? `exit ${run.status}`}): ${run.stderr.trim().split('\n').slice(-3).join(' ')}`;
  return JSON.parse(run.stdout.trim().split('\n').pop() as string) as TorchResult;
}

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');
console.log('# bench:custom-cnn\n');
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores; Node ${process.version}; load average at start ${loadavg()}`);
console.log(`custom CNN + study head, batch ${batch}, Adam; tfjs ${tfjsInfo.backend} (SIMD ${tfjsInfo.simd}, ${tfjsInfo.threads} thread); ONNX Runtime ${threads} intra-op threads, weight gradient ${weightGrad}, input gradient ${inputGrad}, pool gradient ${poolGrad}\n`);

const rows: Array<{ size: number; tfjs?: number; ort?: number; torch?: { nchw: number; channels_last: number } }> = sizes.map((size) => ({ size }));
const notes: string[] = [];
let torchSkipped = values['no-torch'] ? 'left out (--no-torch)' : torchMissing();
let torchVersion = '';
const better = (a: number | undefined, b: number) => Math.max(a ?? 0, b);
for (let round = 1; round <= rounds; round++) {
  for (const row of rows) {
    if (engines.includes('onnxruntime')) {
      const r = await ortRate(row.size);
      row.ort = better(row.ort, r);
      console.error(`round ${round}, ${row.size}px onnxruntime: ${fmt(r)} images/s`);
    }
    if (torchSkipped === undefined) {
      const t = runTorch(row.size);
      if (typeof t === 'string') torchSkipped = t;
      else {
        torchVersion = `${t.version}, ${t.threads} threads`;
        const r = t.sizes[String(row.size)] as { nchw: number; channels_last: number };
        row.torch = { nchw: better(row.torch?.nchw, r.nchw), channels_last: better(row.torch?.channels_last, r.channels_last) };
        console.error(`round ${round}, ${row.size}px PyTorch: ${fmt(r.nchw)} / ${fmt(r.channels_last)} images/s`);
      }
    }
    if (round === 1 && engines.includes('tfjs')) {
      try {
        row.tfjs = await tfjsRate(row.size);
        console.error(`${row.size}px tfjs: ${fmt(row.tfjs)} images/s`);
        if (row.size > 112) notes.push(`tfjs at ${row.size}px ran the batch of ${batch} in micro-batches of ${tfjsMicroBatch}`);
      } catch (e) {
        notes.push(`tfjs at ${row.size}px failed: ${(e as Error).message}`);
      }
    }
  }
}
console.log(`load average at end ${loadavg()}\n`);
const best = (r: (typeof rows)[number]) => (r.torch ? Math.max(r.torch.nchw, r.torch.channels_last) : undefined);
const ratio = (ours: number | undefined, r: (typeof rows)[number]) => (ours === undefined || best(r) === undefined ? '—' : `${fmt(ours / (best(r) as number), 2)}x`);
console.log('| input | tfjs img/s | ONNX Runtime img/s | PyTorch img/s (NCHW / channels_last) | tfjs / PyTorch | ONNX Runtime / PyTorch |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.size}x${r.size} | ${fmt(r.tfjs)} | ${fmt(r.ort)} | ${r.torch ? `${fmt(r.torch.nchw)} / ${fmt(r.torch.channels_last)}` : '—'} | ${ratio(r.tfjs, r)} | ${ratio(r.ort, r)} |`);
}
for (const n of notes) console.log(`- ${n}`);
if (torchSkipped !== undefined) console.log(`\nPyTorch comparison: skipped: ${torchSkipped}.`);
else console.log(`\nPyTorch ${torchVersion}; ratios are against its faster layout; ONNX Runtime and PyTorch keep their best of ${rounds} round${rounds > 1 ? 's' : ''}.`);
