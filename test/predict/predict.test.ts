import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/run-command.js';
import { predictCommand } from '../../src/cli/predict-command.js';
import type { Split } from '../../src/data/split.js';
import { formatPrediction } from '../../src/evaluate/certainty.js';
import { loadClassifier, type Classifier } from '../../src/predict/classifier.js';
import { classifyPhotoFiles, createPhotoClassifier, type PhotoClassifier } from '../../src/predict/classify-photo.js';
import { microBatcher } from '../../src/predict/micro-batcher.js';
import { FacegenderError } from '../../src/errors.js';
import { partFiles } from '../../src/train/train-model.js';
import type { ProgressEvent } from '../../src/util/progress.js';
import { blankImage, celebaFiles, collage } from '../helpers/face-images.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';

/*
 * `predict` on a real trained bundle (mobileface, 120/60/60 CelebA images): the library that
 * finds, aligns and classifies faces, and the command's text, JSON and exit status.
 */

let dir: string;
let bundle: string;
let split: Split;
let classifier: Classifier;
let pc: PhotoClassifier;
let collageFile: string;
let blankFile: string;
let textFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-predict-'));
  ({ bundle, split } = await trainSmallBundle(dir));
  classifier = await loadClassifier(bundle);
  pc = await createPhotoClassifier(classifier);
  const files = [...(await celebaFiles('female', 2, 4)), ...(await celebaFiles('male', 2, 1))];
  collageFile = path.join(dir, 'collage.png');
  await writeFile(collageFile, (await collage(files)).png);
  blankFile = path.join(dir, 'blank.jpg');
  await writeFile(blankFile, await blankImage());
  textFile = path.join(dir, 'notes.jpg');
  await writeFile(textFile, 'not a photo at all\n');
}, 300_000);

afterAll(async () => {
  await pc?.dispose();
  await classifier?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `facegender predict …` in this process, capturing what it prints. */
function predict(args: string[]): Promise<{ stdout: string; error?: Error }> {
  return runCommand(predictCommand(), ['--model', bundle, ...args]);
}

describe('the micro-batcher', () => {
  it('runs calls made together as one batch, later calls in the next, each getting its own result', async () => {
    const batches: number[][] = [];
    const square = microBatcher(async (xs: number[]) => {
      batches.push(xs);
      await new Promise((r) => setTimeout(r, 5));
      return xs.map((x) => x * x);
    }, 4);
    const first = [1, 2, 3, 4, 5, 6].map((x) => square.run(x));
    await new Promise((r) => setTimeout(r, 1));
    const late = square.run(7);
    expect(await Promise.all([...first, late])).toEqual([1, 4, 9, 16, 25, 36, 49]);
    expect(batches).toEqual([[1, 2, 3, 4], [5, 6, 7]]);
    expect(square.largestBatch).toBe(4);
    expect(square.pending).toBe(0);
  });

  it('rejects every call of a failed batch and keeps serving the next', async () => {
    const half = microBatcher(async (xs: number[]) => {
      if (xs.includes(0)) throw new RangeError('zero');
      return xs.map((x) => 1 / x);
    }, 8);
    const failed = await Promise.allSettled([half.run(0), half.run(2)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await half.run(4)).toBe(0.25);
  });
});

describe('classifying photos (library)', () => {
  it('classifies each detected face with the label, certainty and probability the threshold implies', async () => {
    const result = await pc.classifyFile(collageFile);
    expect(result.detect).toBe(true);
    expect(result.faces.length).toBe(4);
    for (const f of result.faces) {
      const male = f.probability > classifier.threshold;
      expect(f.label).toBe(male ? 'Male' : 'Female');
      expect(f.certainty).toBeCloseTo(male ? f.probability : 1 - f.probability, 12);
      expect(f.text).toBe(formatPrediction(f.probability, classifier.threshold));
      expect(f.detectionScore).toBeGreaterThan(0.5);
    }
    // Left to right, as the collage was laid out.
    const xs = result.faces.map((f) => f.box.x);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
  });

  it('without detection gives exactly what the classifier gives a dataset file', async () => {
    const files = partFiles(split, 'test').files.slice(0, 6);
    const direct = await classifier.classifyFiles(files);
    for (const [i, file] of files.entries()) {
      const r = await pc.classifyFile(file, { detect: false });
      expect(r.faces.length).toBe(1);
      expect(r.faces[0]?.probability).toBe(direct[i]?.probability);
      expect(r.faces[0]?.box).toEqual({ x: 0, y: 0, width: 89, height: 109 });
      expect(r.faces[0]?.detectionScore).toBeNull();
    }
  });

  it('with detection and alignment, keeps the accuracy on held-out CelebA images and stays near the crop-path probability', async () => {
    const test = partFiles(split, 'test');
    const detected = await classifyPhotoFiles(pc, test.files, { detect: true });
    const whole = await classifier.probabilities(test.files);
    let found = 0;
    let correct = 0;
    const gaps: number[] = [];
    detected.forEach((o, i) => {
      const face = o.result?.faces[0];
      if (!face) return;
      found++;
      if ((face.probability > classifier.threshold ? 1 : 0) === test.labels[i]) correct++;
      gaps.push(Math.abs(face.probability - (whole[i] as number)));
    });
    const wholeAccuracy = test.labels.filter((l, i) => ((whole[i] as number) > classifier.threshold ? 1 : 0) === l).length / test.labels.length;
    expect(found).toBeGreaterThanOrEqual(0.9 * test.files.length);
    expect(correct / found).toBeGreaterThan(wholeAccuracy - 0.1);
    gaps.sort((a, b) => a - b);
    expect(gaps[gaps.length >> 1]).toBeLessThan(0.1);
    // Concurrent photos share model calls.
    expect(pc.stats().classifyBatch).toBeGreaterThan(1);
    expect(pc.stats().detectBatch).toBeGreaterThan(1);
  });

  it('reports unreadable files in their outcome and goes on, with progress', async () => {
    const events: ProgressEvent[] = [];
    const outcomes = await classifyPhotoFiles(pc, [textFile, blankFile, collageFile], { batchSize: 2, onProgress: (e) => events.push(e) });
    expect(outcomes.map((o) => o.error ?? o.result?.faces.length)).toEqual(['not an image (looks like text)', 0, 4]);
    expect(events.map((e) => e.done)).toEqual([0, 1, 2, 3]);
    expect(events.every((e) => e.total === 3 && e.stage === 'predict')).toBe(true);
  });
});

describe('facegender predict', () => {
  it('prints each face with its box and the study\'s line', async () => {
    const { stdout, error } = await predict([collageFile]);
    expect(error).toBeUndefined();
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(`${collageFile}: 4 faces`);
    expect(lines.slice(1)).toHaveLength(4);
    for (const line of lines.slice(1)) expect(line).toMatch(/^ {2}face \d at x=\d+ y=\d+ \d+x\d+: Prediction: (Female|Male), Certainty: \d{1,3}\.\d\d%$/);
  });

  it('gives boxes, probabilities and the threshold in --json', async () => {
    const { stdout, error } = await predict([collageFile, '--json']);
    expect(error).toBeUndefined();
    const out = JSON.parse(stdout);
    expect(out.threshold).toBe(classifier.threshold);
    expect(out.model).toMatchObject({ id: 'face-1', base: 'mobileface', classNames: ['Female', 'Male'], threshold: classifier.threshold });
    const [r] = out.results;
    expect(r.file).toBe(collageFile);
    expect(r.faces).toHaveLength(4);
    const direct = await pc.classifyFile(collageFile);
    r.faces.forEach((f: { probability: number; threshold: number; box: object; label: string; certainty: number }, i: number) => {
      expect(f.threshold).toBe(classifier.threshold);
      expect(f.probability).toBe(direct.faces[i]?.probability);
      expect(f.box).toEqual(direct.faces[i]?.box);
      expect(f.label).toBe(direct.faces[i]?.label);
    });
  });

  it('reads folders, says when a photo has no face, and fails only when every input failed', async () => {
    const folder = path.join(dir, 'photos');
    await mkdir(folder, { recursive: true });
    const [face] = await celebaFiles('female', 1, 4);
    await copyFile(face as string, path.join(folder, 'a-face.jpg'));
    await copyFile(blankFile, path.join(folder, 'b-blank.jpg'));
    const mixed = await predict([folder, textFile]);
    expect(mixed.error).toBeUndefined();
    const lines = mixed.stdout.split('\n');
    expect(lines[0]).toBe(`${path.join(folder, 'a-face.jpg')}: 1 face`);
    expect(lines[2]).toBe(`${path.join(folder, 'b-blank.jpg')}: no face found (320x240)`);
    expect(lines[3]).toBe(`${textFile}: error: not an image (looks like text)`);

    const none = await predict([blankFile, textFile]);
    expect(none.error).toBeInstanceOf(FacegenderError);
    expect(none.error?.message).toBe('none of the 2 inputs gave a face to classify');
    expect(none.stdout).toContain(`${blankFile}: no face found`);
  });

  it('with --no-detect classifies an already-cropped dataset image whole', async () => {
    const [file] = partFiles(split, 'test').files;
    const { stdout, error } = await predict(['--no-detect', file as string]);
    expect(error).toBeUndefined();
    const [direct] = await classifier.classifyFiles([file as string]);
    expect(stdout).toBe(`${file}: ${formatPrediction(direct?.probability as number, classifier.threshold)}`);
  });
});
