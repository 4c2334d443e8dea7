/* global process, console */
/**
 * Runs face-api's own age and gender pipelines (below), as the reference for test/competitors/competitors.test.ts. Runs
 * in its own process: face-api's bundle carries a second tfjs, which would share tfjs's global
 * engine and kernel registry with ours if loaded in the same one.
 *
 * Usage: [FACEAPI_REF_BACKEND=cpu] node faceapi-age-gender-reference.mjs <pixels.f32> <sizes.json>
 *   pixels.f32: the images one after another, HWC RGB 0..255; sizes.json: [{height, width}, ...]
 * Prints JSON, per image: { best, aligned, wholeProbMale }, where `best` is the highest-scoring face of
 * `detectAllFaces(image).withAgeAndGender()` as {score, x, y, width, height (its detection box), probMale} or null,
 * `aligned` the same from `.withFaceLandmarks().withAgeAndGender()` with the box its aligned rectangle, and
 * wholeProbMale `ageGenderNet.predictAgeAndGender(image)`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { faceapi, loadNet, require, tf } from './faceapi-bundle.mjs';

async function main() {
  const [pixelsFile, sizesFile] = process.argv.slice(2);
  // The bundle's own wasm backend, single-threaded (its threaded build wants browser Workers), reading
  // the same binaries as ours. FACEAPI_REF_BACKEND=cpu runs its pure-JS backend instead (~20x slower).
  const backend = process.env.FACEAPI_REF_BACKEND ?? 'wasm';
  if (backend === 'wasm') {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    tf.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`face-api's tfjs could not start its ${backend} backend`);
  await loadNet(faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
  await loadNet(faceapi.nets.ageGenderNet, 'age_gender_model');
  await loadNet(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
  const raw = fs.readFileSync(pixelsFile);
  const pixels = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const sizes = JSON.parse(fs.readFileSync(sizesFile, 'utf8'));
  const out = [];
  let offset = 0;
  for (const { height, width } of sizes) {
    const image = tf.tensor3d(pixels.subarray(offset, offset + height * width * 3), [height, width, 3]);
    offset += height * width * 3;
    const options = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 });
    const pick = (results, box) => {
      let best = null;
      for (const r of results) {
        if (!best || r.detection.score > best.score) {
          const { x, y, width: w, height: h } = box(r);
          best = { score: r.detection.score, x, y, width: w, height: h, probMale: r.gender === 'male' ? r.genderProbability : 1 - r.genderProbability };
        }
      }
      return best;
    };
    const best = pick(await faceapi.detectAllFaces(image, options).withAgeAndGender(), (r) => r.detection.box);
    const aligned = pick(await faceapi.detectAllFaces(image, options).withFaceLandmarks().withAgeAndGender(), (r) => r.alignedRect.box);
    const whole = await faceapi.nets.ageGenderNet.predictAgeAndGender(image);
    out.push({ best, aligned, wholeProbMale: whole.gender === 'male' ? whole.genderProbability : 1 - whole.genderProbability });
    image.dispose();
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
