import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { facegender } from '../helpers/cli.js';
import { celebaFiles, collage } from '../helpers/face-images.js';
import { REPO } from '../helpers/shared.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';

/** predict's --onnx-thread, as a user types it: where ONNX Runtime runs changes nothing in the answer. */
let dir: string;
let bundle: string;
let collageFile: string;
const PHOTO = path.join(REPO, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-onnx-thread-'));
  ({ bundle } = await trainSmallBundle(dir));
  collageFile = path.join(dir, 'collage.png');
  await writeFile(collageFile, (await collage([...(await celebaFiles('female', 2, 7)), ...(await celebaFiles('male', 2, 9))])).png);
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('predict --onnx-thread', () => {
  it.each([[[]], [['--landmarks', 'mesh']]])('gives the same faces and probabilities in worker threads (the default) as on the main thread %j', async (extra) => {
    const outputs: string[] = [];
    for (const place of [[], ['--onnx-thread', 'worker'], ['--onnx-thread', 'main']]) {
      const r = await facegender(['predict', '--model', bundle, '--json', ...extra, ...place, PHOTO, collageFile]);
      expect(r.code, r.stderr).toBe(0);
      outputs.push(r.stdout);
    }
    const faces = (JSON.parse(outputs[0] as string) as { results: Array<{ faces: Array<{ probability: number }> }> }).results.map((x) => x.faces.length);
    expect(faces).toEqual([3, 4]);
    expect(outputs[1]).toBe(outputs[0]);
    expect(outputs[2]).toBe(outputs[0]);
  });

  it('refuses a place it does not know', async () => {
    const r = await facegender(['predict', '--model', bundle, '--onnx-thread', 'gpu', PHOTO]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--onnx-thread <where>' argument 'gpu' is invalid\. Allowed choices are main, worker/);
  });
});

describe('serve with ONNX Runtime in its worker thread (the default)', () => {
  it('ends, naming the problem, when the model does not load or the port is taken', async () => {
    const missing = await facegender(['serve', '--model', path.join(dir, 'no-such-model')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no-such-model.*not a facegender model folder/);
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const busy = await facegender(['serve', '--model', bundle, '--port', String(port)]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/EADDRINUSE/);
    } finally {
      taken.close();
    }
  }, 120_000);
});
