import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
