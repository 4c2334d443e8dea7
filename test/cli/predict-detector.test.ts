import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { facegender } from '../helpers/cli.js';
import { REPO } from '../helpers/shared.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';

/** predict's choice of face detector and landmarks, as a user types it. */
let dir: string;
let bundle: string;
const PHOTO = path.join(REPO, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-detector-'));
  ({ bundle } = await trainSmallBundle(dir));
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface PredictJson {
  results: Array<{ faces: Array<{ box: { x: number; y: number; width: number; height: number } }> }>;
  detector?: string;
}

describe('predict --detector and --landmarks', () => {
  it('finds the three faces of a group photo with each detector and landmark source', async () => {
    const boxes: number[][] = [];
    for (const args of [[], ['--landmarks', 'mesh'], ['--detector', 'ssd']]) {
      const r = await facegender(['predict', '--model', bundle, '--json', ...args, PHOTO]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as PredictJson;
      const faces = out.results[0]?.faces ?? [];
      expect(faces, args.join(' ')).toHaveLength(3);
      boxes.push(faces.map((f) => f.box.x + f.box.width / 2));
    }
    // The same three people, left to right, whatever finds them.
    for (const centres of boxes.slice(1)) centres.forEach((c, i) => expect(Math.abs(c - (boxes[0]?.[i] as number))).toBeLessThan(60));
  });

  it('refuses an unknown detector or landmark source, naming the choices', async () => {
    const r = await facegender(['predict', '--model', bundle, '--detector', 'yolo', PHOTO]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--detector <kind>' argument 'yolo' is invalid. Allowed choices are blazeface, ssd/);
    const l = await facegender(['predict', '--model', bundle, '--landmarks', 'eyes', PHOTO]);
    expect(l.stderr).toMatch(/Allowed choices are keypoints, mesh/);
  });
});
