/**
 * Training throughput of the custom CNN with the study's dense head: tfjs (wasm, one thread),
 * our ONNX Runtime training graph, and PyTorch as the reference, in the same run.
 *
 *   npm run bench:custom-cnn -- [options]
 *
 * Options: --sizes 64,112,224  --batch 64  --steps 3  --tfjs-steps 1  --threads 2
 *          --engines tfjs,onnxruntime  --weight-grad auto|im2col-gemm|shifted|batched-matmul
 *          --pool-grad indices|mask|unpool
 *          --input-grad conv-transpose|conv-flipped  --no-torch
 *          --backend wasm|cpu  --profile
 * One step is forward + backward + Adam on a batch of random pixels (speed does not depend on
 * them), the study's head (Dense 256, Dense 128, Dropout 0.4, Dense 1) and batch. Each figure is
 * images/s of the median step after a warm-up step; tfjs takes `--tfjs-steps` timed steps (one by
 * default: a step takes most of a minute at 224 px). PyTorch (Debian's python3-torch, same
 * network, Adam and threads) is run in both memory layouts and the faster counts; without it the
 * ratios are left out with a note.
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
    'input-grad': { type: 'string', default: 'conv-transpose' },
    'no-torch': { type: 'boolean', default: false },
    backend: { type: 'string', default: 'wasm' },
    profile: { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
const batch = Number(values.batch);
const steps = Number(values.steps);
const tfjsSteps = Number(values['tfjs-steps']);
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
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
  const { x, y } = randomBatch(size);
  const xs = tf.tensor4d(x, [batch, size, size, 3]);
  const ys = tf.tensor2d(y, [batch, 1]);
  try {
    if (values.profile) await printProfile(size, () => model.trainOnBatch(xs, ys));
    return await rate(tfjsSteps, () => model.trainOnBatch(xs, ys));
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

function runTorch(): TorchResult | string {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.error) return `python3 could not run (${probe.error.message})`;
  if (probe.status !== 0) return "PyTorch is not installed (Debian's python3-torch); `python3 -c \"import torch\"` fails";
  const run = spawnSync(PYTHON, [TORCH_SCRIPT, String(threads), String(steps), String(batch), sizes.join(',')], {
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

const rows: Array<{ size: number; tfjs?: number; ort?: number }> = [];
for (const size of sizes) {
  const row: (typeof rows)[number] = { size };
  if (engines.includes('onnxruntime')) {
    row.ort = await ortRate(size);
    console.error(`${size}px onnxruntime: ${fmt(row.ort)} images/s`);
  }
  if (engines.includes('tfjs')) {
    try {
      row.tfjs = await tfjsRate(size);
      console.error(`${size}px tfjs: ${fmt(row.tfjs)} images/s`);
    } catch (e) {
      console.log(`- tfjs at ${size}px failed: ${(e as Error).message}`);
    }
  }
  rows.push(row);
}
const torch = values['no-torch'] ? 'left out (--no-torch)' : runTorch();
console.log(`load average at end ${loadavg()}\n`);
const ref = (size: number) => (typeof torch === 'string' ? undefined : torch.sizes[String(size)]);
const best = (size: number) => {
  const r = ref(size);
  return r ? Math.max(r.nchw, r.channels_last) : undefined;
};
const ratio = (ours: number | undefined, size: number) => (ours === undefined || best(size) === undefined ? '—' : `${fmt(ours / (best(size) as number), 2)}x`);
console.log('| input | tfjs img/s | ONNX Runtime img/s | PyTorch img/s (NCHW / channels_last) | tfjs / PyTorch | ONNX Runtime / PyTorch |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const t = ref(r.size);
  console.log(`| ${r.size}x${r.size} | ${fmt(r.tfjs)} | ${fmt(r.ort)} | ${t ? `${fmt(t.nchw)} / ${fmt(t.channels_last)}` : '—'} | ${ratio(r.tfjs, r.size)} | ${ratio(r.ort, r.size)} |`);
}
if (typeof torch === 'string') console.log(`\nPyTorch comparison: skipped: ${torch}.`);
else console.log(`\nPyTorch ${torch.version}, ${torch.threads} threads; ratios are against its faster layout.`);
