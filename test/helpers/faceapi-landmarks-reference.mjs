/* global process, console */
/**
 * Runs face-api's own `detectAllFaces(image).withFaceLandmarks()` (SSD MobileNet v1 + 68-point
 * landmark net) as the reference for test/detect/face-detect.test.ts. Its own process: face-api's
 * bundle carries a second tfjs that would collide with ours in one process.
 *
 * Usage: node faceapi-landmarks-reference.mjs <pixels.f32> <height> <width>   (HWC RGB, 0..255)
 * Prints a JSON array of {box: {x, y, width, height}, score, points: [[x, y] × 68]}.
 */
import fs from 'node:fs';
import { faceapi, loadNet, tf } from './faceapi-bundle.mjs';

async function main() {
  const [pixelsFile, h, w] = process.argv.slice(2);
  await tf.setBackend('cpu');
  await loadNet(faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
  await loadNet(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
  const raw = fs.readFileSync(pixelsFile);
  const pixels = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const image = tf.tensor3d(pixels, [Number(h), Number(w), 3]);
  const found = await faceapi.detectAllFaces(image, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 })).withFaceLandmarks();
  const out = found.map((r) => ({
    box: { x: r.detection.box.x, y: r.detection.box.y, width: r.detection.box.width, height: r.detection.box.height },
    score: r.detection.score,
    points: r.landmarks.positions.map((p) => [p.x, p.y]),
  }));
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
