import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageBuffer } from '../../src/data/decode.js';
import { CELEBA_FACE_TEMPLATE, applySimilarity } from '../../src/data/face-align.js';
import { readPhoto } from '../../src/data/read-photo.js';
import { reframeFace, Scenery, type Reframing } from '../../src/data/reframe.js';
import { BLAZE_SPECS, BlazeFace } from '../../src/detect/blazeface.js';
import type { FaceDetector } from '../../src/detect/face-detector.js';
import { findFaces } from '../../src/detect/find-faces.js';
import { letterbox, toRgb8 } from '../../src/detect/letterbox.js';
import { loadFaceDetector } from '../../src/detect/load-detector.js';
import { sameFace } from '../../src/detect/nms.js';
import { readGraphModel } from '../../src/graph/read-graph.js';
import { tfjsGraphToOnnx } from '../../src/graph/to-onnx.js';
import { OnnxSession } from '../../src/runtime/onnx/session.js';
import { initTfjs } from '../../src/runtime/tfjs/backend.js';
import { loadGraphModelFile, resolvePackageFile } from '../../src/runtime/tfjs/graph-loader.js';
import { CELEBA, REPO } from '../helpers/shared.js';

/** 10 female and 10 male CelebA faces, every 200th by name (the detector never trained on these framings). */
async function celebaSample(): Promise<string[]> {
  const out: string[] = [];
  for (const cls of ['female', 'male']) {
    const names = (await readdir(path.join(CELEBA, cls))).sort();
    for (let i = 0; i < 10; i++) out.push(path.join(CELEBA, cls, names[i * 200] as string));
  }
  return out;
}

let detector: FaceDetector;
let files: string[];
let scenery: Scenery;

beforeAll(async () => {
  detector = await loadFaceDetector();
  files = await celebaSample();
  const pool = (await readdir(path.join(CELEBA, 'female'))).sort().slice(-30);
  scenery = await Scenery.load(pool.map((n) => path.join(CELEBA, 'female', n)));
});

afterAll(async () => {
  await detector.dispose();
});

describe('BlazeFace on ONNX Runtime', () => {
  it('gives the heads tfjs computes from the same graph, for several outputs at once', async () => {
    await initTfjs();
    const spec = BLAZE_SPECS.front;
    const file = resolvePackageFile(spec.model);
    const graph = await readGraphModel(file);
    const nodes = spec.heads.flatMap((h) => [h.scores, h.regressors]);
    const converted = tfjsGraphToOnnx(graph.nodes, graph.weights, { outputNode: nodes[0] as string, extraOutputs: nodes.slice(1), inputSize: { width: 128, height: 128 }, label: file });
    expect(converted.outputNames).toEqual(['features', 'features_1', 'features_2', 'features_3']);
    expect(converted.outputShapes.map((s) => s.slice(1))).toEqual([
      [16, 16, 2],
      [16, 16, 32],
      [8, 8, 6],
      [8, 8, 96],
    ]);
    const image = await decodeImageBuffer(await readFile(files[0] as string), 'face', { size: { width: 128, height: 128 } });
    const input = image.data.map((v) => v / 127.5 - 1);
    const session = await OnnxSession.create(converted.model, { threads: 1 });
    const ours = await session.runOutputs(input, [1, 128, 128, 3]);
    await session.dispose();
    const loaded = await loadGraphModelFile(file);
    const theirs = loaded.model.execute(tf.tensor4d(input, [1, 128, 128, 3]), nodes) as tf.Tensor[];
    for (const [k, name] of converted.outputNames.entries()) {
      const ref = (await (theirs[k] as tf.Tensor).data()) as Float32Array;
      const got = (ours[name] as { data: Float32Array }).data;
      expect(got.length).toBe(ref.length);
      const scale = Math.max(...Array.from(ref, Math.abs));
      const worst = Math.max(...Array.from(ref, (v, i) => Math.abs(v - (got[i] as number))));
      expect(worst / scale, name).toBeLessThan(1e-4);
    }
    tf.dispose(theirs);
    loaded.model.dispose();
  });

  it('refuses a size the model cannot run at', async () => {
    await expect(BlazeFace.load('front', { size: 256 })).rejects.toThrow(/blazeface-front runs at 128 px, not 256/);
    await expect(BlazeFace.load('back', { size: 300 })).rejects.toThrow(/multiple of 32/);
  });

  it('letterboxes without changing a face shape, and maps its boxes back to the image', async () => {
    const image = await decodeImageBuffer(await readFile(files[0] as string), 'face');
    const box = await letterbox(toRgb8(image), image.width, image.height, 128);
    expect(box.scaleX).toBeCloseTo(box.scaleY, 1);
    expect(box.offsetY).toBe(0);
    expect(box.offsetX).toBe(Math.floor((128 - Math.round(image.width * (128 / image.height))) / 2));
  });
});

describe('the default face detector', () => {
  const framings: Array<[Reframing, number]> = [
    ['plain', 1],
    ['tight', 1],
    ['rolled', 1],
    ['wide', 0.95],
    ['small', 0.85],
    ['dark', 1],
    ['grey', 1],
    ['jpeg', 1],
    ['mirrored', 1],
  ];

  it.each(framings)('finds the face in re-framed CelebA faces: %s (recall at least %s)', async (kind, floor) => {
    let hits = 0;
    for (const file of files) {
      const r = await reframeFace(await readFile(file), kind, path.basename(file), scenery);
      const image = await decodeImageBuffer(r.bytes, file);
      const [faces = []] = await findFaces(detector, [image]);
      if (faces.some((f) => sameFace(f.box, r.face, 0.3))) hits++;
    }
    expect(hits / files.length).toBeGreaterThanOrEqual(floor);
  });

  it.each(['keypoints', 'mesh'] as const)('puts the eyes where CelebA has them (%s): aligning a plain face moves its eyes by under 12 percent of their distance', async (landmarks) => {
    const own = landmarks === 'keypoints' ? detector : await loadFaceDetector({ landmarks });
    const errors: number[] = [];
    const pointCounts: number[] = [];
    try {
      for (const file of files) {
        const image = await decodeImageBuffer(await readFile(file), file);
        const [[face] = []] = await findFaces(own, [image], { frame: { width: image.width, height: image.height } });
        expect(face, file).toBeDefined();
        if (!face) continue;
        expect(landmarks === 'mesh' ? [5] : [2, 4]).toContain(face.landmarks.length);
        pointCounts.push(face.landmarks.length);
        // The image is already CelebA-aligned, so the template's eyes should map to themselves.
        const [le, re] = CELEBA_FACE_TEMPLATE;
        const eyeDistance = (re.x - le.x) * image.width;
        for (const p of [le, re]) {
          const at = { x: p.x * image.width, y: p.y * image.height };
          const moved = applySimilarity(face.aligned.toFrame, at);
          errors.push(Math.hypot(moved.x - at.x, moved.y - at.y) / eyeDistance);
        }
      }
    } finally {
      if (own !== detector) await own.dispose();
    }
    errors.sort((a, b) => a - b);
    expect(errors[Math.floor(errors.length / 2)]).toBeLessThan(0.12);
    // Frontal faces align on the eyes alone; only a face turned aside brings in its nose and mouth.
    if (landmarks === 'keypoints') expect(pointCounts.filter((n) => n === 2).length).toBeGreaterThanOrEqual(18);
  });

  it('looks again with the back model at twice its size where nothing was found: tiny faces in a scene', async () => {
    // Twenty CelebA images shrunk to 16x20 (the face about 9 px wide), each alone in a 640x480 scene.
    let before = 0;
    let after = 0;
    for (const [k, file] of files.entries()) {
      const crop = { left: 60 + 23 * k, top: 80 + 15 * k, width: 16, height: 20 };
      const face = await sharp(file).resize(crop.width, crop.height).png().toBuffer();
      const scene = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 80 + 5 * k, g: 110, b: 100 } } })
        .composite([{ input: face, left: crop.left, top: crop.top }])
        .png()
        .toBuffer();
      const image = await decodeImageBuffer(scene, file);
      const inCrop = (faces: Array<{ box: { x: number; y: number; width: number; height: number } }>) =>
        faces.some((f) => {
          const cx = f.box.x + f.box.width / 2;
          const cy = f.box.y + f.box.height / 2;
          return cx >= crop.left && cx <= crop.left + crop.width && cy >= crop.top && cy <= crop.top + crop.height;
        });
      const [usual = []] = await findFaces(detector, [image], { fine: false });
      const [all = []] = await findFaces(detector, [image]);
      if (inCrop(usual)) before++;
      if (inCrop(all)) after++;
      // The fine look only adds to a photo where nothing was found.
      if (usual.length > 0) expect(all.map((f) => f.box)).toEqual(usual.map((f) => f.box));
    }
    expect(before).toBeLessThanOrEqual(files.length / 2);
    expect(after).toBeGreaterThanOrEqual(0.9 * files.length);
  });

  it('finds every face of the sample group photos, no more', async () => {
    const counts: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const file = path.join(REPO, 'node_modules', '@vladmandic', 'face-api', 'demo', `sample${i}.jpg`);
      const photo = await readPhoto(await readFile(file), file);
      const [faces = []] = await findFaces(detector, [photo.image]);
      counts.push(faces.length);
      for (const f of faces) {
        expect(Math.abs(f.aligned.degrees), file).toBeLessThan(60);
        // Sample 2 holds a profile, whose eyes close up: fitted on them alone its scale would explode.
        expect(f.aligned.scale, file).toBeLessThan(1);
      }
    }
    // The people in the six photos, counted by eye.
    expect(counts).toEqual([3, 3, 3, 4, 5, 4]);
  });
});
