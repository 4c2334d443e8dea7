import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
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
 * and each bad input, broken HTTP over a real socket on 127.0.0.1, the log lines, concurrent
 * requests batched into shared model calls, and the web page in Debian's chromium classifying a
 * dataset image uploaded through its file picker.
 */

let dir: string;
let classifier: Classifier;
let pc: PhotoClassifier;
let app: FastifyInstance;
let faceJpeg: Buffer;
let faceFile: string;
let collagePng: Buffer;
const appLog: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-serve-'));
  const { bundle } = await trainSmallBundle(dir);
  classifier = await loadClassifier(bundle);
  pc = await createPhotoClassifier(classifier);
  app = await buildServer(pc, modelInfo(classifier, bundle), { log: (line) => appLog.push(line) });
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

const BOUNDARY = 'facegender-test-boundary';

/** One file part, without the closing boundary. */
function filePart(field: string, filename: string, type: string, content: Buffer, boundary = BOUNDARY) {
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`);
  return Buffer.concat([head, content, Buffer.from('\r\n')]);
}

function multipart(field: string, filename: string, type: string, content: Buffer, boundary = BOUNDARY) {
  const payload = Buffer.concat([filePart(field, filename, type, content, boundary), Buffer.from(`--${boundary}--\r\n`)]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

const post = (payload: Buffer | string, contentType: string, url = '/api/predict') => app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType } });

describe('POST /api/predict', () => {
  it('classifies the one face of a raw JPEG body, with the model id and threshold', async () => {
    const res = await post(faceJpeg, 'image/jpeg');
    expect(res.statusCode).toBe(200);
    expect(appLog.at(-1)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z POST \/api\/predict 200 \d+ ms$/);
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

  it('gives up on a classification that overruns its time with 503, and logs why even when quiet', async () => {
    const lines: string[] = [];
    const quick = await buildServer(pc, modelInfo(classifier, path.join(dir, 'face-1')), { inferenceTimeoutMs: 1, quiet: true, log: (line) => lines.push(line) });
    try {
      const res = await quick.inject({ method: 'POST', url: '/api/predict', payload: collagePng, headers: { 'content-type': 'image/png' } });
      expect(res.statusCode).toBe(503);
      expect(res.json().error).toBe('classification took longer than 1 ms');
      expect((await quick.inject({ method: 'GET', url: '/api/health' })).statusCode).toBe(200);
      // The 503's cause, and no line per request.
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/Z POST \/api\/predict 503 error: classification took longer than 1 ms$/);
    } finally {
      await quick.close();
    }
  });

  it('classifies at most photoConcurrency photos at once and answers every request in turn', async () => {
    let running = 0;
    let most = 0;
    // The real classifier, counting the photos it holds at once.
    const counted: PhotoClassifier = {
      ...pc,
      classify: async (...args) => {
        most = Math.max(most, ++running);
        try {
          return await pc.classify(...args);
        } finally {
          running--;
        }
      },
    };
    const limited = await buildServer(counted, modelInfo(classifier, path.join(dir, 'face-1')), { photoConcurrency: 2, quiet: true, log: () => {} });
    try {
      const replies = await Promise.all(Array.from({ length: 8 }, () => limited.inject({ method: 'POST', url: '/api/predict', payload: faceJpeg, headers: { 'content-type': 'image/jpeg' } })));
      expect(replies.map((r) => r.statusCode)).toEqual(replies.map(() => 200));
      expect(replies.map((r) => r.json().faces.length)).toEqual(replies.map(() => 1));
      expect(most).toBe(2);
    } finally {
      await limited.close();
    }
    await expect(buildServer(pc, modelInfo(classifier, path.join(dir, 'face-1')), { photoConcurrency: 0 })).rejects.toThrow('server option photoConcurrency must be a positive whole number, got 0');
  });

  it('waits on close for classifications still running after their client got its answer, so the models can be disposed', async () => {
    let finished = 0;
    // The real classifier, counting the classifications that end.
    const counted: PhotoClassifier = { ...pc, classify: async (...args) => { const result = await pc.classify(...args); finished++; return result; } };
    const quick = await buildServer(counted, modelInfo(classifier, path.join(dir, 'face-1')), { inferenceTimeoutMs: 1, quiet: true, log: () => {} });
    const res = await quick.inject({ method: 'POST', url: '/api/predict', payload: collagePng, headers: { 'content-type': 'image/png' } });
    expect(res.statusCode).toBe(503);
    expect(finished).toBe(0);
    await quick.close();
    expect(finished).toBe(1);
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
    expect(info.detector).toMatch(/BlazeFace/);
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

interface RawReply {
  /** Null when the connection closed without an answer. */
  status: number | null;
  body: string;
  ms: number;
}

/**
 * Sends `head` over a plain socket to 127.0.0.1, then up to `dribble` more bytes one every `gapMs`,
 * and reads until the server closes the connection or `waitMs` passes.
 */
function rawRequest(port: number, head: string, { dribble = 0, gapMs = 200, waitMs = 10_000 } = {}): Promise<RawReply> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let left = dribble;
    const drip = setInterval(() => {
      if (left-- > 0 && socket.writable) socket.write('x');
      else clearInterval(drip);
    }, gapMs);
    const finish = () => {
      clearInterval(drip);
      clearTimeout(deadline);
      socket.destroy();
      const text = Buffer.concat(chunks).toString();
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
      resolve({ status: status ? Number(status) : null, body: text.slice(text.indexOf('\r\n\r\n') + 4), ms: performance.now() - t0 });
    };
    const deadline = setTimeout(finish, waitMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    // Writing after the server hung up fails with EPIPE or ECONNRESET; 'close' follows and ends it.
    socket.on('error', () => {});
    socket.once('close', finish);
    socket.write(head);
  });
}

describe('broken requests over a socket', () => {
  let live: FastifyInstance;
  let base: string;
  let port: number;
  const lines: string[] = [];
  beforeAll(async () => {
    live = await buildServer(pc, modelInfo(classifier, path.join(dir, 'face-1')), { requestTimeoutMs: 1_000, log: (line) => lines.push(line) });
    base = await live.listen({ host: '127.0.0.1', port: 0 });
    port = Number(new URL(base).port);
  });
  afterAll(async () => {
    await live?.close();
  });

  /** Each broken request must leave the server answering. */
  async function expectHealthy() {
    const res = await fetch(`${base}/api/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', inFlight: 0 });
  }

  const errorOf = async (res: Response) => ((await res.json()) as { error: string }).error;
  const send = (body: Buffer, contentType: string) => fetch(`${base}/api/predict`, { method: 'POST', body, headers: { 'content-type': contentType } });
  const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

  it('answers a multipart body whose boundary never closes with 400, and logs the request', async () => {
    const res = await send(filePart('image', 'face.jpg', 'image/jpeg', faceJpeg), MULTIPART);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: `the multipart body was cut short: it ends before the closing boundary '--${BOUNDARY}--'`, statusCode: 400 });
    expect(lines.at(-1)).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z POST \/api\/predict 400 \d+ ms$/);
    await expectHealthy();
    expect(lines.at(-1)).toMatch(/Z GET \/api\/health 200 \d+ ms$/);
  });

  it('answers a body cut by a different boundary than its Content-Type names with 400', async () => {
    const { payload } = multipart('image', 'face.jpg', 'image/jpeg', faceJpeg, 'the-body-boundary');
    const res = await send(payload, 'multipart/form-data; boundary=the-header-boundary');
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toBe(
      "the multipart body holds no part delimited by the boundary 'the-header-boundary' from its Content-Type (a different boundary, or not multipart at all)",
    );
    await expectHealthy();
  });

  it('answers two files in one request with 400', async () => {
    const payload = Buffer.concat([filePart('image', 'face.jpg', 'image/jpeg', faceJpeg), filePart('other', 'group.png', 'image/png', collagePng), Buffer.from(`--${BOUNDARY}--\r\n`)]);
    const res = await send(payload, MULTIPART);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toBe("the multipart body holds more than one file ('face.jpg', then another); send one image per request");
    await expectHealthy();
  });

  it('answers text sent as image/jpeg with 415 naming the file', async () => {
    const text = Buffer.from('these are notes, not a photo\n'.repeat(20));
    const res = await send(multipart('image', 'notes.jpg', 'image/jpeg', text).payload, MULTIPART);
    expect(res.status).toBe(415);
    expect(await errorOf(res)).toBe('notes.jpg: not an image of a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF)');
    const raw = await send(text, 'image/jpeg');
    expect(raw.status).toBe(415);
    expect(await errorOf(raw)).toMatch(/^upload: not an image/);
    await expectHealthy();
  });

  it('answers a 64 KB header with 431 in the JSON error shape, and logs it', async () => {
    const res = await rawRequest(port, `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body)).toEqual({ error: 'the request headers are larger than the limit of 16384 bytes', statusCode: 431 });
    expect(lines.at(-1)).toMatch(/Z - - 431 \(the request headers are larger than the limit of 16384 bytes\)$/);
    await expectHealthy();
  });

  it('closes a request whose body dribbles in past the 1 s request timeout with 408', async () => {
    const head = `POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: ${faceJpeg.length}\r\n\r\n`;
    // A byte every 200 ms for at most 8 s: the server must end it well before the client stops.
    const res = await rawRequest(port, head, { dribble: 40, gapMs: 200, waitMs: 10_000 });
    expect(res.ms).toBeLessThan(6_000);
    // The answer can be lost when the server resets a socket that is still sending; then the closed connection is the answer.
    if (res.status !== null) {
      expect(res.status).toBe(408);
      expect(JSON.parse(res.body)).toEqual({ error: 'the request was not received within 1000 ms', statusCode: 408 });
    }
    expect(lines.some((l) => /Z - - 408 \(the request was not received within 1000 ms\)$/.test(l))).toBe(true);
    await expectHealthy();
  });

  it('logs nothing per request when quiet', async () => {
    const quietLines: string[] = [];
    const quiet = await buildServer(pc, modelInfo(classifier, path.join(dir, 'face-1')), { quiet: true, log: (line) => quietLines.push(line) });
    try {
      const address = await quiet.listen({ host: '127.0.0.1', port: 0 });
      expect((await fetch(`${address}/api/health`)).status).toBe(200);
      const bad = await fetch(`${address}/api/predict`, { method: 'POST', body: filePart('image', 'face.jpg', 'image/jpeg', faceJpeg), headers: { 'content-type': MULTIPART } });
      expect(bad.status).toBe(400);
      const big = await rawRequest(Number(new URL(address).port), `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
      expect(big.status).toBe(431);
      expect(quietLines).toEqual([]);
    } finally {
      await quiet.close();
    }
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
    live = await buildServer(pc, modelInfo(classifier, path.join(dir, 'face-1')), { quiet: true });
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
