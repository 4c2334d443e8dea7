/**
 * Training throughput of the custom CNN base with the study's dense head, on tfjs.
 *
 *   npm run bench:custom-cnn -- [options]
 *
 * Options: --sizes 224,112,64  --batch 16  --steps 3  --backend wasm|cpu  --profile
 * Reports images/s for forward + backward + Adam on random pixels (speed does not depend on them),
 * both per wall-clock second and per second of this process's CPU time: tfjs wasm runs on one
 * thread, so on a machine shared with other jobs the CPU-time figure is the steadier one.
 */
import { parseArgs } from 'node:util';
import * as tfl from '@tensorflow/tfjs-layers';
import { createCustomCnn } from '../src/zoo/custom-cnn/network.js';
import { initTfjs, tfjsRuntimeInfo } from '../src/runtime/tfjs/backend.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '224,112,64' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'wasm' },
    profile: { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
const batch = Number(values.batch);
const steps = Number(values.steps);
const backend = values.backend === 'cpu' ? 'cpu' : 'wasm';

const tf = await initTfjs({ backend });
console.log(JSON.stringify(await tfjsRuntimeInfo()));

/** The study's head on top of the base: Dense 256 ReLU, Dense 128 ReLU, Dropout 0.4, Dense 1 sigmoid. */
function withHead(base: tfl.LayersModel): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(base);
  model.add(tfl.layers.dense({ units: 256, activation: 'relu' }));
  model.add(tfl.layers.dense({ units: 128, activation: 'relu' }));
  model.add(tfl.layers.dropout({ rate: 0.4 }));
  model.add(tfl.layers.dense({ units: 1, activation: 'sigmoid' }));
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
  return model;
}

for (const size of sizes) {
  const cnn = createCustomCnn({ inputSize: size, seed: 1 });
  const model = withHead(cnn.model);
  const x = tf.randomUniform([batch, size, size, 3], 0, 255);
  const y = tf.cast(tf.greater(tf.randomUniform([batch, 1]), 0.5), 'float32');
  await model.trainOnBatch(x, y);
  if (values.profile) {
    const profile = await tf.profile(async () => {
      await model.trainOnBatch(x, y);
    });
    const byKernel = new Map<string, { ms: number; calls: number }>();
    for (const k of profile.kernels) {
      const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
      entry.ms += Number(k.kernelTimeMs);
      entry.calls += 1;
      byKernel.set(k.name, entry);
    }
    const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15);
    console.log(`profile at ${size}px (nested kernels are counted inside their callers too):`);
    for (const [name, { ms, calls }] of top) console.log(`  ${name.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  x${calls}`);
  }
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    const startCpu = process.cpuUsage();
    await model.trainOnBatch(x, y);
    const used = process.cpuUsage(startCpu);
    wall.push(performance.now() - start);
    cpu.push((used.user + used.system) / 1000);
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const rate = (ms: number): string => ((batch * 1000) / ms).toFixed(1);
  console.log(
    `${backend} ${size}px batch ${batch}: median step ${median(wall).toFixed(0)} ms wall, ${median(cpu).toFixed(0)} ms CPU; ` +
      `${rate(median(wall))} images/s by wall clock (best ${rate(Math.min(...wall))}), ${rate(median(cpu))} per CPU second; ` +
      `params ${cnn.paramCount}, tensors ${tf.memory().numTensors}`,
  );
  tf.dispose([x, y]);
  model.optimizer.dispose();
  model.dispose();
}
