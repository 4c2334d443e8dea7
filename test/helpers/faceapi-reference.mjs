/* global process, console, performance, fetch, TextEncoder, TextDecoder, Buffer */
/**
 * Computes face descriptors with face-api's own FaceRecognitionNet, as the reference for
 * test/offline-bases.test.ts. Runs in its own process: face-api's bundle carries a second tfjs,
 * which would share tfjs's global engine and kernel registry with ours if loaded in the same one.
 *
 * Usage: node faceapi-reference.mjs <pixels.f32> <n>   (n images, 150x150x3, 0..255)
 * Prints a JSON array of n descriptors.
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

async function main() {
  const [pixelsFile, nText] = process.argv.slice(2);
  const n = Number(nText);
  await tf.setBackend('cpu');
  const manifestFile = path.join(pkg, 'model', 'face_recognition_model-weights_manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  const bins = manifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(pkg, 'model', p))));
  const joined = Buffer.concat(bins);
  const weights = tf.io.decodeWeights(
    joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
    manifest.flatMap((g) => g.weights),
  );
  await faceapi.nets.faceRecognitionNet.loadFromWeightMap(weights);
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
