/* global performance, fetch, Response, TextEncoder, TextDecoder, Buffer */
/**
 * Loads face-api's own published bundle for the reference scripts beside this file. Each of them
 * runs in its own process: the bundle carries a second tfjs, which would share tfjs's global
 * engine and kernel registry with ours if loaded in the same one.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const require = createRequire(import.meta.url);
export const pkg = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
const source = fs.readFileSync(path.join(pkg, 'dist', 'face-api.js'), 'utf8');
// The bundle's wasm backend fetches its binary; a plain path has no URL scheme for Node's fetch.
const networkFetch = globalThis.fetch;
globalThis.fetch = async (url, init) =>
  typeof url === 'string' && url.startsWith('/') ? new Response(fs.readFileSync(url), { headers: { 'content-type': 'application/wasm' } }) : networkFetch(url, init);
// The browser bundle's Node detection wants require('util'), which its bundler stubbed out; hiding
// `process` makes it skip that path, and a minimal platform replaces it.
export const faceapi = new Function('require', 'process', `${source}\nreturn faceapi;`)(require, { env: {} });
export const tf = faceapi.tf;
tf.env().setPlatform('reference', {
  fetch,
  now: () => performance.now(),
  encode: (s) => new TextEncoder().encode(s),
  decode: (b, e) => new TextDecoder(e).decode(b),
  isTypedArray: (a) => ArrayBuffer.isView(a),
});
faceapi.env.setEnv(faceapi.env.createNodejsEnv());

/** Loads one of the package's nets from its weights manifest (e.g. `ssd_mobilenetv1_model`). */
export async function loadNet(net, name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'model', `${name}-weights_manifest.json`), 'utf8'));
  const joined = Buffer.concat(manifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(pkg, 'model', p)))));
  await net.loadFromWeightMap(tf.io.decodeWeights(joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength), manifest.flatMap((g) => g.weights)));
}
