import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPrediction } from '../../src/evaluate/certainty.js';
import { loadClassifier, type Classifier } from '../../src/predict/classifier.js';
import { createPhotoClassifier, type PhotoClassifier } from '../../src/predict/classify-photo.js';
import { modelInfo } from '../../src/predict/model-info.js';
import { buildServer } from '../../src/serve/server.js';
import { launchChromium } from '../helpers/chromium.js';
import { blankImage, celebaFiles, collage, decompressionBomb } from '../helpers/face-images.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';

/*
 * The HTTP server on a real trained bundle: the API with real images (one face, several, none)
 * and each bad input, concurrent requests batched into shared model calls, and the web page in
 * Debian's chromium classifying a dataset image uploaded through its file picker.
 */

let dir: string;
let classifier: Classifier;
let pc: PhotoClassifier;
let app: FastifyInstance;
let faceJpeg: Buffer;
let faceFile: string;
let collagePng: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-serve-'));
  const { bundle } = await trainSmallBundle(dir);
  classifier = await loadClassifier(bundle);
  pc = await createPhotoClassifier(classifier);
  app = await buildServer(pc, modelInfo(classifier, bundle));
  [faceFile] = (await celebaFiles('female', 1, 4)) as [string];
  faceJpeg = await readFile(faceFile);
  collagePng = (await collage([...(await celebaFiles('female', 2, 4)), ...(await celebaFiles('male', 2, 1))])).png;
}, 300_000);

afterAll(async () => {
  await app?.close();
  await pc?.dispose();
  await classifier?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function multipart(field: string, filename: string, type: string, content: Buffer, boundary = 'facegender-test-boundary') {
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`);
  return { payload: Buffer.concat([head, content, Buffer.from(`\r\n--${boundary}--\r\n`)]), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

const post = (payload: Buffer | string, contentType: string, url = '/api/predict') => app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType } });

describe('POST /api/predict', () => {
  it('classifies the one face of a raw JPEG body, with the model id and threshold', async () => {
    const res = await post(faceJpeg, 'image/jpeg');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ model: 'face-1', threshold: classifier.threshold, classNames: ['Female', 'Male'], width: 89, height: 109, detect: true });
    expect(body.faces).toHaveLength(1);
    const [face] = body.faces;
    expect(Object.keys(face.box).sort()).toEqual(['height', 'width', 'x', 'y']);
    expect(face.box.width).toBeGreaterThan(20);
    expect(face.label).toBe(face.probability > classifier.threshold ? 'Male' : 'Female');
    expect(face.text).toBe(formatPrediction(face.probability, classifier.threshold));
    // The same bytes through the library give the same answer.
    expect(face.probability).toBe((await pc.classify(faceJpeg, 'x')).faces[0]?.probability);
  });

  it('classifies every face of a multipart upload', async () => {
    const { payload, headers } = multipart('image', 'group.png', 'image/png', collagePng);
    const res = await app.inject({ method: 'POST', url: '/api/predict', payload, headers });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.faces).toHaveLength(4);
    for (const f of body.faces) expect(f.text).toMatch(/^Prediction: (Female|Male), Certainty: \d{1,3}\.\d\d%$/);
  });

  it('answers a photo without faces with an empty list', async () => {
    const res = await post(await blankImage(), 'image/jpeg');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ faces: [], width: 320, height: 240 });
  });

  it('skips detection with ?detect=false and classifies the crop as the dataset path does', async () => {
    const res = await post(faceJpeg, 'image/jpeg', '/api/predict?detect=false');
    expect(res.statusCode).toBe(200);
    const [direct] = await classifier.classifyFiles([faceFile]);
    expect(res.json().faces[0].probability).toBe(direct?.probability);
    expect((await post(faceJpeg, 'image/jpeg', '/api/predict?detect=maybe')).statusCode).toBe(400);
  });

  it('sniffs the content: text labelled image/jpeg gets 415, and so does a JSON body', async () => {
    const res = await post('<html>not an image</html>', 'image/jpeg');
    expect(res.statusCode).toBe(415);
    expect(res.json().error).toMatch(/not an image/);
    const mp = multipart('image', 'face.jpg', 'image/jpeg', Buffer.from('hello, this is not a picture'));
    expect((await app.inject({ method: 'POST', url: '/api/predict', ...mp })).statusCode).toBe(415);
    // No endpoint reads files named in a request.
    const json = await post(JSON.stringify({ path: faceFile }), 'application/json');
    expect(json.statusCode).toBe(415);
  });

  it('refuses bodies over 10 MB with 413, raw or multipart', async () => {
    const big = Buffer.concat([faceJpeg, Buffer.alloc(10 * 1024 * 1024)]);
    const raw = await post(big, 'image/jpeg');
    expect(raw.statusCode).toBe(413);
    expect(raw.json().error).toBe('request body is larger than the limit of 10485760 bytes');
    const mp = multipart('image', 'big.jpg', 'image/jpeg', big);
    expect((await app.inject({ method: 'POST', url: '/api/predict', ...mp })).statusCode).toBe(413);
  });

  it('refuses a decompression bomb with 422 without decoding it, and a truncated JPEG with 422', async () => {
    const bomb = await decompressionBomb();
    const t0 = performance.now();
    const res = await post(bomb, 'image/png');
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toBe('upload: image is 8000x8000 = 64000000 pixels, over the limit of 40000000');
    expect(performance.now() - t0).toBeLessThan(1000);
    const cut = await post(faceJpeg.subarray(0, faceJpeg.length >> 1), 'image/jpeg');
    expect(cut.statusCode).toBe(422);
    expect(cut.json().error).toMatch(/^upload: truncated or corrupt JPEG/);
  });

  it('answers 400 to a multipart body without a file and to an empty body', async () => {
    const boundary = 'b';
    const payload = `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--${boundary}--\r\n`;
    const res = await app.inject({ method: 'POST', url: '/api/predict', payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(res.statusCode).toBe(400);
    expect((await post(Buffer.alloc(0), 'image/jpeg')).statusCode).toBe(400);
  });

  it('batches concurrent requests into shared model calls, and every request gets its own answer', async () => {
    const blank = await blankImage();
    const bodies = Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? blank : faceJpeg));
    const replies = await Promise.all(bodies.map((b) => post(b, 'image/jpeg')));
    expect(replies.map((r) => r.statusCode)).toEqual(bodies.map(() => 200));
    expect(replies.map((r) => r.json().faces.length)).toEqual(bodies.map((b) => (b === blank ? 0 : 1)));
    const probs = new Set(replies.filter((r) => r.json().faces.length === 1).map((r) => r.json().faces[0].probability));
    expect(probs.size).toBe(1);
    expect(pc.stats().detectBatch).toBeGreaterThan(1);
  });

  it('gives up on a classification that overruns its time with 503', async () => {
    const quick = await buildServer(pc, modelInfo(classifier, path.join(dir, 'face-1')), { inferenceTimeoutMs: 1 });
    try {
      const res = await quick.inject({ method: 'POST', url: '/api/predict', payload: collagePng, headers: { 'content-type': 'image/png' } });
      expect(res.statusCode).toBe(503);
      expect(res.json().error).toBe('classification took longer than 1 ms');
    } finally {
      await quick.close();
    }
  });
});

describe('GET endpoints', () => {
  it('/api/health and /api/model describe the model without any path', async () => {
    const health = await app.inject({ method: 'GET', url: '/api/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok', model: 'face-1', inFlight: 0 });
    const model = await app.inject({ method: 'GET', url: '/api/model' });
    const info = model.json();
    expect(info).toMatchObject({ id: 'face-1', base: 'mobileface', threshold: classifier.threshold, classNames: ['Female', 'Male'], limits: { bodyLimit: 10485760, maxPixels: 40000000 } });
    expect(info.detector).toMatch(/SSD MobileNet v1/);
    expect(model.body).not.toContain(dir);
  });

  it('/ is a self-contained page with a strict Content-Security-Policy', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'sha256-[^']+'/);
    expect(res.body).not.toMatch(/(src|href)="https?:/);
    expect(res.body).toContain("does not know a person's gender identity");
  });
});

describe('the web page in chromium', () => {
  let context: BrowserContext;
  let live: FastifyInstance;
  afterAll(async () => {
    await context?.close();
    await live?.close();
  });

  it('uploads a dataset image, shows the label and certainty, and draws the photo', async () => {
    live = await buildServer(pc, modelInfo(classifier, path.join(dir, 'face-1')));
    const address = await live.listen({ host: '127.0.0.1', port: 0 });
    context = await launchChromium(path.join(dir, 'chromium-profile'));
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${address}/`);
    await page.setInputFiles('#file', faceFile);
    const item = page.locator('#results li.prediction');
    await item.first().waitFor({ timeout: 60_000 });
    const text = await item.first().textContent();
    expect(text).toMatch(/^Prediction: (Female|Male), Certainty: \d{1,3}\.\d\d% \(P\(Male\) = 0\.\d{4}, threshold [\d.]+\)$/);
    const expected = (await pc.classify(faceJpeg, 'x')).faces[0];
    expect(text).toContain(expected?.text as string);
    const size = await page.locator('#canvas').evaluate((c) => {
      const canvas = c as unknown as { width: number; height: number };
      return [canvas.width, canvas.height];
    });
    expect(size).toEqual([89, 109]);
    expect(await page.locator('#status').textContent()).toBe('One face.');
    expect(await page.locator('.about').textContent()).toMatch(/does not know a person's gender identity/);
    expect(problems).toEqual([]);
    expect(requests.every((u) => u.startsWith(address))).toBe(true);
  });
});
