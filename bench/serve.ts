/**
 * Load benchmark of `facegender serve`: autocannon with 50 concurrent clients for 30 s, each
 * POSTing a real CelebA image (raw JPEG body) to /api/predict, against a server on 127.0.0.1 in
 * its own process (its work must not slow down the load generator's event loop).
 * Prints requests/s, latency p50/p99 and the error count (connection errors, timeouts and non-2xx).
 *
 *   npm run bench:serve -- [--model runs/face-1] [--connections 50] [--duration 30] [--image FILE] [--onnx-thread shared|main|worker|pair]
 *
 * `--onnx-thread`: where ONNX Runtime runs the detector's and the base's sessions: one worker thread
 * for all (what `facegender serve` does), the server's main thread, a worker each, or one for the
 * detector and one for the base. `--threads N`: the base's ONNX Runtime threads (default 2).
 *
 * Without --model it trains a small mobileface bundle (120/60/60 images) in a temp folder first.
 */
import { fork } from 'node:child_process';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { tfjsRuntimeInfo } from '../src/runtime/tfjs/backend.js';
import { scanDataset } from '../src/data/dataset.js';
import { makeSplit } from '../src/data/split.js';
import { loadClassifier } from '../src/predict/classifier.js';
import { createPhotoClassifier } from '../src/predict/classify-photo.js';
import { runExperiment } from '../src/experiments/experiment.js';
import { modelInfo } from '../src/predict/model-info.js';
import { buildServer } from '../src/serve/server.js';
import { onnxThreadsFor } from './tools/onnx-thread.js';

const CELEBA = path.resolve(fileURLToPath(new URL('../../shared/datasets/celeba-10k', import.meta.url)));

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    image: { type: 'string', default: path.join(CELEBA, 'female', '000006.jpg') },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '30' },
    'onnx-thread': { type: 'string', default: 'shared' },
    threads: { type: 'string' },
    'server-child': { type: 'boolean', default: false },
  },
});

if (values['server-child']) {
  // The server process: load once, listen on loopback, report the address to the parent.
  const dir = values.model as string;
  const places = onnxThreadsFor(values['onnx-thread']);
  const classifier = await loadClassifier(dir, { onnxThread: places.base, ...(values.threads ? { threads: Number(values.threads) } : {}) });
  const pc = await createPhotoClassifier(classifier, { detector: { onnxThread: places.detector } });
  // A log line per request would bury the figures.
  const app = await buildServer(pc, modelInfo(classifier, dir), { quiet: true });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const runtime = await tfjsRuntimeInfo();
  process.send?.({ address, runtime, stats: null });
  process.on('message', async (m) => {
    if (m === 'stats') process.send?.({ stats: pc.stats() });
    if (m === 'stop') {
      // Closing waits for the classifications of requests the load generator gave up on.
      await app.close();
      await pc.dispose();
      await classifier.dispose();
      await places.close();
      process.exit(0);
    }
  });
} else {
  let model = values.model;
  let tmp: string | undefined;
  if (!model) {
    tmp = await mkdtemp(path.join(tmpdir(), 'fg-bench-serve-'));
    const dataset = await scanDataset(CELEBA, { identities: path.join(CELEBA, 'identity_CelebA_000001-010000.txt') });
    const split = makeSplit(dataset, { train: 120, val: 60, test: 60, balanced: true, seed: 3 });
    model = path.join(tmp, 'face-1');
    console.error('training a small mobileface bundle (120/60/60) …');
    await runExperiment(split, 'mobileface', model, { augmentViews: 0, cacheDir: path.join(tmp, 'cache'), resamples: 100 });
  }
  const body = await readFile(values.image as string);
  const child = fork(fileURLToPath(import.meta.url), ['--server-child', '--model', model, '--onnx-thread', values['onnx-thread'] as string, ...(values.threads ? ['--threads', values.threads] : [])], { execArgv: process.execArgv, stdio: 'inherit' });
  const next = () => new Promise<Record<string, unknown>>((resolve) => child.once('message', (m) => resolve(m as Record<string, unknown>)));
  const ready = await next();
  const address = ready.address as string;
  const connections = Number(values.connections);
  const duration = Number(values.duration);
  console.error(`server at ${address}; ${connections} connections for ${duration} s, POSTing ${values.image} (${body.length} bytes); ONNX Runtime on ${values['onnx-thread']} thread(s)`);
  const result = await autocannon({
    url: `${address}/api/predict`,
    method: 'POST',
    headers: { 'content-type': 'image/jpeg' },
    body,
    connections,
    duration,
    // Longer than the server's own 60 s limit, so a slow answer shows as the server's 503, not as a client timeout.
    timeout: 90,
  });
  child.send('stats');
  const { stats } = await next();
  child.send('stop');
  await new Promise((resolve) => child.once('exit', resolve));
  if (tmp) await rm(tmp, { recursive: true, force: true });

  const errors = result.errors + result.non2xx;
  const runtime = ready.runtime as { backend: string; simd: boolean; threads: number };
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `| connections | duration | requests | requests/s | p50 latency | p99 latency | errors |`,
    `|---|---|---|---|---|---|---|`,
    `| ${connections} | ${result.duration.toFixed(0)} s | ${result.requests.total} | ${result.requests.average.toFixed(2)} | ${result.latency.p50} ms | ${result.latency.p99} ms | ${errors} (${result.errors} connection errors incl. ${result.timeouts} timeouts, ${result.non2xx} non-2xx) |`,
    '',
    `Machine: ${availableParallelism()} cores (${cpu}), tfjs ${runtime.backend}${runtime.simd ? ' SIMD' : ''} ${runtime.threads} thread(s); largest batches: ${JSON.stringify(stats)}.`,
  ];
  console.log(lines.join('\n'));
  if (errors > 0) process.exitCode = 1;
}
