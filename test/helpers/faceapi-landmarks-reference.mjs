/* global process, console, performance, fetch, TextEncoder, TextDecoder, Buffer */
/**
 * Runs face-api's own `detectAllFaces(image).withFaceLandmarks()` (SSD MobileNet v1 + 68-point
 * landmark net) as the reference for test/face-detect.test.ts. Its own process: face-api's
 * bundle carries a second tfjs that would collide with ours in one process.
 *
 * Usage: node faceapi-landmarks-reference.mjs <pixels.f32> <height> <width>   (HWC RGB, 0..255)
 * Prints a JSON array of {box: {x, y, width, height}, score, points: [[x, y] × 68]}.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const pkg = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
const source = fs.readFileSync(path.join(pkg, 'dist', 'face-api.js'), 'utf8');
// The browser bundle's Node detection wants require('util'), which its bundler stubbed out; hiding
// `process` makes it skip that path, and a minimal platform replaces it.
const faceapi = new Function('require', 'process', `${source}\nreturn faceapi;`)(require, { env: {} });
const tf = faceapi.tf;
tf.env().setPlatform('reference', {
  fetch,
  now: () => performance.now(),
  encode: (s) => new TextEncoder().encode(s),
  decode: (b, e) => new TextDecoder(e).decode(b),
  isTypedArray: (a) => ArrayBuffer.isView(a),
});
faceapi.env.setEnv(faceapi.env.createNodejsEnv());

async function load(net, name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'model', `${name}-weights_manifest.json`), 'utf8'));
  const joined = Buffer.concat(manifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(pkg, 'model', p)))));
  const weights = tf.io.decodeWeights(joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength), manifest.flatMap((g) => g.weights));
  await net.loadFromWeightMap(weights);
}

async function main() {
  const [pixelsFile, h, w] = process.argv.slice(2);
  await tf.setBackend('cpu');
  await load(faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
  await load(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
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
