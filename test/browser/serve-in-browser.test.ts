import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webAssets } from '../../src/browser/export-site.js';
import { loadClassifier, type Classifier } from '../../src/predict/classifier.js';
import { createPhotoClassifier, type PhotoClassifier } from '../../src/predict/classify-photo.js';
import { modelInfo } from '../../src/predict/model-info.js';
import { buildServer } from '../../src/serve/server.js';
import { launchChromium } from '../helpers/chromium.js';
import { celebaFiles } from '../helpers/face-images.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';

/*
 * serve's page with its "classify in this browser" switch on: the same library the export runs,
 * fed the served model's browser copy from /web/. The photo is classified in Chromium, no request
 * carries it, and the answer is the server's own.
 */

let dir: string;
let classifier: Classifier;
let pc: PhotoClassifier;
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-serve-web-'));
  const { bundle } = await trainSmallBundle(dir);
  classifier = await loadClassifier(bundle);
  pc = await createPhotoClassifier(classifier);
  const web = await webAssets(bundle, { script: 'library' });
  app = await buildServer(pc, modelInfo(classifier, bundle), { quiet: true, webFiles: web.assets });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
}, 600_000);

afterAll(async () => {
  await app?.close();
  await pc?.dispose();
  await classifier?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("serve's in-browser switch", () => {
  it('classifies a photo in the page, uploading nothing, with the answer the server gives', async () => {
    const [file] = await celebaFiles('male', 1, 5);
    const png = path.join(dir, 'face.png');
    await sharp(file as string).png().toFile(png);
    const server = await pc.classify(await readFile(png), 'face.png');
    const context = await launchChromium(path.join(dir, 'profile'));
    const requests: string[] = [];
    try {
      await context.route('**/*', (route) => {
        requests.push(`${route.request().method()} ${route.request().url()}`);
        return route.request().url().startsWith(url) ? route.continue() : route.abort();
      });
      const page = await context.newPage();
      await page.goto(url);
      await page.check('#local');
      await page.setInputFiles('#file', png);
      await page.locator('#status', { hasText: 'Classified in this browser; nothing was uploaded.' }).waitFor({ timeout: 120_000 });
      const text = (await page.textContent('li.prediction')) ?? '';
      const face = server.faces[0];
      expect(face).toBeDefined();
      expect(text).toContain(face?.text.slice(0, 'Prediction: Male'.length));
      const p = Number(/= (\d\.\d{4})/.exec(text)?.[1]);
      expect(Math.abs(p - (face?.probability ?? NaN))).toBeLessThanOrEqual(1e-3 + 5e-5);
    } finally {
      await context.close();
    }
    expect(requests.filter((r) => r.startsWith('POST'))).toEqual([]);
    expect(requests.some((r) => r.endsWith('/web/facegender-lib.js'))).toBe(true);
    // The page's policy lets the library start its base worker (from /web/, its own origin).
    expect(requests.some((r) => r.endsWith('/web/facegender-worker.js'))).toBe(true);
    expect(requests.filter((r) => !r.split(' ')[1]?.startsWith(url))).toEqual([]);
  });

  it('serves the model\'s browser copy under /web/ and nothing else there', async () => {
    const manifest = await fetch(`${url}/web/web-model.json`);
    expect(manifest.status).toBe(200);
    expect(((await manifest.json()) as { format: string }).format).toBe('facegender-web-model');
    expect((await fetch(`${url}/web/../package.json`)).status).toBe(404);
    expect((await fetch(`${url}/web/nothing.bin`)).status).toBe(404);
  });
});
