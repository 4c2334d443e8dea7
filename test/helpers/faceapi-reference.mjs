/* global process, console */
/**
 * Computes face descriptors with face-api's own FaceRecognitionNet, as the reference for
 * test/zoo/offline-bases.test.ts. Runs in its own process: face-api's bundle carries a second tfjs,
 * which would share tfjs's global engine and kernel registry with ours if loaded in the same one.
 *
 * Usage: node faceapi-reference.mjs <pixels.f32> <n>   (n images, 150x150x3, 0..255)
 * Prints a JSON array of n descriptors.
 */
import fs from 'node:fs';
import { faceapi, loadNet, tf } from './faceapi-bundle.mjs';

async function main() {
  const [pixelsFile, nText] = process.argv.slice(2);
  const n = Number(nText);
  await tf.setBackend('cpu');
  await loadNet(faceapi.nets.faceRecognitionNet, 'face_recognition_model');
  const raw = fs.readFileSync(pixelsFile);
  const pixels = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const per = 150 * 150 * 3;
  const out = [];
  for (let i = 0; i < n; i++) {
    const image = tf.tensor3d(pixels.subarray(i * per, (i + 1) * per), [150, 150, 3]);
    out.push(Array.from(await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(image)));
    image.dispose();
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
