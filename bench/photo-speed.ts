/**
 * Speed of the photo path through predict's library functions (createPhotoClassifier):
 * 1. one 1920x1280 group photo (face-api's sample1.jpg, 3 faces), warm: p50 and p90 of 40 runs,
 *    beside the same photo classified whole (no detection) in the same run, as the reference;
 * 2. a folder of 200x200 tight face crops (the robustness suite's `tight` set) with detection, in
 *    photos/s through classifyPhotoFiles, beside the same folder without detection.
 *
 * Run: npx tsx bench/photo-speed.ts [--model runs/face-1] [--crops runs/robustness/tight] [--detector blazeface|ssd]
 *   [--onnx-thread shared|main|worker|pair]: where ONNX Runtime runs the detector's and the base's
 *   sessions: one worker thread for all (what predict and serve do), the main thread, a worker
 *   each, or one for the detector and one for the base.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadClassifier } from '../src/predict/classifier.js';
import { classifyPhotoFiles, createPhotoClassifier } from '../src/predict/classify-photo.js';
import type { DetectorKind } from '../src/detect/face-detector.js';
import { onnxThreadsFor } from './tools/onnx-thread.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/face-1' },
    crops: { type: 'string', default: 'runs/robustness/tight' },
    photo: { type: 'string', default: 'node_modules/@vladmandic/face-api/demo/sample1.jpg' },
    detector: { type: 'string', default: 'blazeface' },
    runs: { type: 'string', default: '40' },
    'onnx-thread': { type: 'string', default: 'shared' },
  },
});

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.(png|jpe?g)$/i.test(entry.name)) out.push(path.join(entry.parentPath, entry.name));
  }
  return out.sort();
}

async function main(): Promise<void> {
  const places = onnxThreadsFor(values['onnx-thread']);
  const classifier = await loadClassifier(values.model, { onnxThread: places.base });
  const photo = await createPhotoClassifier(classifier, { detector: { kind: values.detector as DetectorKind, onnxThread: places.detector } });
  const bytes = await readFile(values.photo);
  const runs = Number(values.runs);
  const timed = async (detect: boolean) => {
    for (let i = 0; i < 5; i++) await photo.classify(bytes, 'photo', { detect });
    const ms: number[] = [];
    let faces = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      faces = (await photo.classify(bytes, 'photo', { detect })).faces.length;
      ms.push(performance.now() - t0);
    }
    return { p50: quantile(ms, 0.5), p90: quantile(ms, 0.9), faces };
  };
  const withDetection = await timed(true);
  const whole = await timed(false);
  console.log(`One photo (${values.photo}), warm, ${runs} runs, detector ${values.detector}, ONNX Runtime on ${values['onnx-thread']} thread(s):`);
  console.log(`  with detection: p50 ${withDetection.p50.toFixed(1)} ms, p90 ${withDetection.p90.toFixed(1)} ms, ${withDetection.faces} faces`);
  console.log(`  whole image, no detection (reference): p50 ${whole.p50.toFixed(1)} ms; ratio ${(withDetection.p50 / whole.p50).toFixed(2)}x`);

  const files = await listImages(values.crops);
  if (files.length === 0) {
    console.log(`No crops under ${values.crops}: run npm run bench:robustness first to build the sets.`);
  } else {
    await classifyPhotoFiles(photo, files.slice(0, 32), { batchSize: 16 });
    const rate = async (detect: boolean) => {
      const t0 = performance.now();
      const out = await classifyPhotoFiles(photo, files, { batchSize: 16, detect });
      const seconds = (performance.now() - t0) / 1000;
      return { rate: files.length / seconds, noFace: out.filter((o) => o.result && o.result.faces.length === 0).length };
    };
    const det = await rate(true);
    const ref = await rate(false);
    console.log(`Folder of ${files.length} crops (${values.crops}):`);
    console.log(`  with detection: ${det.rate.toFixed(1)} photos/s (${det.noFace} without a face)`);
    console.log(`  no detection (reference): ${ref.rate.toFixed(1)} photos/s; detection keeps ${((100 * det.rate) / ref.rate).toFixed(0)}% of it`);
  }
  await photo.dispose();
  await classifier.dispose();
  await places.close();
}

await main();
