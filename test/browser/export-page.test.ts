import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportWebSite, exportableBasesText } from '../../src/browser/export-site.js';
import type { WebModelManifest } from '../../src/browser/web-model.js';
import { webScript, WEB_LIBRARY_FILE } from '../../src/browser/web-script.js';
import { launchChromium } from '../helpers/chromium.js';
import { facegender } from '../helpers/cli.js';
import { blankImage, celebaFiles, decompressionBomb } from '../helpers/face-images.js';
import { MEBEAUTY, REPO } from '../helpers/shared.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';
import { serveFolder } from '../helpers/static-server.js';
import { writeFaceClip } from '../helpers/y4m.js';

/*
 * A real small model (mobileface + head on 120 CelebA images) exported with the built CLI, served
 * by a plain static host and opened in Debian's chromium: the page gives `predict --json`'s
 * answers, runs the fake webcam with live labels, asks nothing of any other origin, and explains
 * bad input.
 *
 * The answers are compared on PNGs written from the dataset's JPEGs: Node decodes a JPEG with
 * libvips (and its detector copy with shrink-on-load, a reduced-scale DCT), Chromium with its own
 * libjpeg-turbo build, so the same JPEG may reach the two pipelines as different pixels. A PNG
 * decodes to the same pixels everywhere, which leaves the pipelines themselves to compare.
 */

interface NodeFace {
  label: string;
  probability: number;
}

let dir: string;
let site: string;
let host: Awaited<ReturnType<typeof serveFolder>>;
let context: BrowserContext;
let page: Page;
const requests: string[] = [];
/** A 1920x1280 photo of a group (face-api's demo), with three faces. */
const GROUP_PHOTO = path.join(REPO, 'node_modules/@vladmandic/face-api/demo/sample1.jpg');
let photos: string[];
let nodeFaces: Map<string, NodeFace[]>;

/** The page's document as these callbacks use it (they run in the page; this file compiles without the DOM library). */
interface PageDocument {
  body: { dataset: Record<string, string | undefined> };
  querySelectorAll(selector: string): { length: number };
}

async function waitForState(p: Page, states: string[]): Promise<string> {
  await p.waitForFunction((s) => s.includes((globalThis as unknown as { document: PageDocument }).document.body.dataset.state ?? ''), states, { timeout: 60_000 });
  return (await p.textContent('#status')) ?? '';
}

async function listedFaces(p: Page): Promise<NodeFace[]> {
  const items = p.locator('li.prediction');
  const faces: NodeFace[] = [];
  for (let i = 0; i < (await items.count()); i++) {
    faces.push({ label: (await items.nth(i).getAttribute('data-label')) ?? '', probability: Number(await items.nth(i).getAttribute('data-probability')) });
  }
  return faces;
}

/** Uploads a file through the page's picker and waits for its answer. */
async function upload(p: Page, file: string | { name: string; mimeType: string; buffer: Buffer }): Promise<{ status: string; faces: NodeFace[] }> {
  await p.evaluate(() => ((globalThis as unknown as { document: PageDocument }).document.body.dataset.state = 'waiting'));
  await p.setInputFiles('#file', file);
  const status = await waitForState(p, ['done', 'error']);
  return { status, faces: await listedFaces(p) };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-web-'));
  const { bundle } = await trainSmallBundle(dir);
  site = path.join(dir, 'site');
  const exported = await facegender(['export', '--model', bundle, '--web', site]);
  expect(exported.stderr + exported.stdout).toMatch(/wrote .*site: \d+ files/);
  expect(exported.code).toBe(0);

  // 14 CelebA faces and 6 MEBeauty ones (other people, light and framing), as PNGs.
  const meb = (await readdir(path.join(MEBEAUTY, 'male', 'black'))).sort().slice(0, 3).map((n) => path.join(MEBEAUTY, 'male', 'black', n));
  const mebF = (await readdir(path.join(MEBEAUTY, 'female', 'asian'))).sort().slice(0, 3).map((n) => path.join(MEBEAUTY, 'female', 'asian', n));
  const sources = [...(await celebaFiles('female', 7)), ...(await celebaFiles('male', 7)), ...meb, ...mebF];
  await mkdir(path.join(dir, 'photos'));
  photos = await Promise.all(
    sources.map(async (file, i) => {
      const png = path.join(dir, 'photos', `${String(i).padStart(2, '0')}-${path.basename(file).replace(/\.[^.]+$/, '')}.png`);
      await sharp(file).png().toFile(png);
      return png;
    }),
  );
  const predicted = await facegender(['predict', '--model', bundle, '--json', ...photos]);
  expect(predicted.code, predicted.stderr).toBe(0);
  const json = JSON.parse(predicted.stdout) as { results: Array<{ file: string; faces: NodeFace[] }> };
  nodeFaces = new Map(json.results.map((r) => [r.file, r.faces]));

  host = await serveFolder(site);
  const clip = path.join(dir, 'camera.y4m');
  await writeFaceClip(clip, (await celebaFiles('male', 2, 20)).concat(await celebaFiles('female', 2, 20)));
  context = await launchChromium(path.join(dir, 'profile'), { args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${clip}`] });
  // Every request the page makes passes through here, served or not.
  await context.route('**/*', (route) => {
    requests.push(route.request().url());
    return route.request().url().startsWith(host.url) ? route.continue() : route.abort();
  });
  page = await context.newPage();
  await page.goto(host.url);
  expect(await waitForState(page, ['ready', 'error'])).toMatch(/^Ready/);
}, 600_000);

afterAll(async () => {
  await context?.close();
  await host?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('facegender export --web', () => {
  it('writes a self-contained site: page, one script, detector, base and head weights, wasm, model card', async () => {
    const manifest = JSON.parse(await readFile(path.join(site, 'web-model.json'), 'utf8')) as WebModelManifest;
    expect(manifest.base.id).toBe('mobileface');
    expect(manifest.alignedSize).toEqual({ width: 89, height: 109 });
    for (const file of ['index.html', 'facegender-web.js', 'sw.js', 'model-card.json', manifest.base.model, manifest.head.model, manifest.detector.front, manifest.detector.back, 'wasm/tfjs-backend-wasm-simd.wasm']) {
      expect((await stat(path.join(site, file))).size, file).toBeGreaterThan(100);
    }
    const html = await readFile(path.join(site, 'index.html'), 'utf8');
    expect(html).toContain("connect-src 'self'");
    expect(html).not.toMatch(/https?:\/\//);
    const card = JSON.parse(await readFile(path.join(site, 'model-card.json'), 'utf8')) as { format: string; limits: string[] };
    expect(card.format).toBe('facegender-model-card');
    // The page renders the card it was given.
    expect(await page.locator('#card').isVisible()).toBe(true);
    expect(await page.textContent('#card')).toContain(card.limits[0]?.slice(0, 40));
    expect(await page.textContent('.about')).toContain('What this model can and cannot tell');
  });

  it('gives predict --json\'s labels, and probabilities within 1e-3, on 20 real photos', async () => {
    let worst = 0;
    for (const photo of photos) {
      const node = nodeFaces.get(photo) ?? [];
      const web = await upload(page, photo);
      expect(web.faces.length, `${photo}: ${web.status}`).toBe(node.length);
      web.faces.forEach((f, i) => {
        const n = node[i] as NodeFace;
        expect(f.label, photo).toBe(n.label);
        worst = Math.max(worst, Math.abs(f.probability - n.probability));
      });
      if (node.length > 0) expect(web.status).toMatch(/face/);
    }
    expect(photos.filter((p) => (nodeFaces.get(p) ?? []).length > 0).length).toBeGreaterThanOrEqual(18);
    console.log(`page against predict --json on ${photos.length} photos: largest |Δp| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-3);
    expect(await page.textContent('#results')).toMatch(/Prediction: (Male|Female), Certainty: \d+\.\d\d%/);
  });

  it('labels the fake webcam live and reports its frames per second', async () => {
    await page.click('#camera');
    await page.waitForFunction(
      () => {
        const doc = (globalThis as unknown as { document: PageDocument }).document;
        return Number(doc.body.dataset.fps) > 0 && doc.querySelectorAll('li.prediction').length > 0;
      },
      null,
      { timeout: 60_000 },
    );
    expect(await page.textContent('#fps')).toMatch(/^Webcam: \d+\.\d frames\/s at 640x480$/);
    expect(await page.textContent('#status')).toMatch(/^Webcam: Prediction: (Male|Female), Certainty: \d+\.\d\d%/);
    await page.click('#camera');
  });

  it('classifies a video frame face by face once, then reuses each answer until it is older than refreshMs', async () => {
    const photo = path.basename(photos[0] as string);
    await cp(photos[0] as string, path.join(site, photo));
    // The package's browser entry, as a developer's own page would bundle it.
    await writeFile(path.join(site, WEB_LIBRARY_FILE), await webScript('library'));
    // A page of the site's origin without the site's own script, whose tfjs would share the
    // library's engine; and a string, not a function: the runner would rewrite a function's import().
    const bare = await context.newPage();
    await bare.goto(`${host.url}/web-model.json`);
    const frames = (await bare.evaluate(`(async () => {
      const lib = await import(location.origin + '/' + ${JSON.stringify(WEB_LIBRARY_FILE)});
      const model = await lib.loadWebModel(location.origin + '/');
      const image = await createImageBitmap(await (await fetch(location.origin + '/' + ${JSON.stringify(photo)})).blob());
      const still = await model.classifyImage(image);
      const first = await model.classifyVideoFrame(image, { refreshMs: 60000 });
      const second = await model.classifyVideoFrame(image, { refreshMs: 60000 });
      const refreshed = await model.classifyVideoFrame(image, { refreshMs: 0 });
      return { still: still.faces.map((f) => f.probability), runs: [first, second, refreshed].map((r) => ({ classified: r.classified, probs: r.faces.map((f) => f.probability) })) };
    })()`)) as { still: number[]; runs: Array<{ classified: number; probs: number[] }> };
    await bare.close();
    expect(frames.still).toHaveLength(1);
    expect(frames.runs.map((r) => r.classified)).toEqual([1, 0, 1]);
    for (const run of frames.runs) expect(run.probs).toEqual(frames.still);
  });

  it('shares a group photo\'s faces with its base worker and answers exactly as without it', async () => {
    await cp(GROUP_PHOTO, path.join(site, 'group.jpg'));
    await writeFile(path.join(site, WEB_LIBRARY_FILE), await webScript('library'));
    const bare = await context.newPage();
    await bare.goto(`${host.url}/web-model.json`);
    const answers = (await bare.evaluate(`(async () => {
      const lib = await import(location.origin + '/' + ${JSON.stringify(WEB_LIBRARY_FILE)});
      const image = await createImageBitmap(await (await fetch(location.origin + '/group.jpg')).blob());
      const out = [];
      for (const baseWorker of [true, false]) {
        const model = await lib.loadWebModel(location.origin + '/', { baseWorker });
        const r = await model.classifyImage(image);
        out.push({ worker: model.baseWorker, probs: r.faces.map((f) => f.probability) });
        model.dispose();
      }
      return out;
    })()`)) as Array<{ worker: boolean; probs: number[] }>;
    await bare.close();
    const [shared, alone] = answers as [{ worker: boolean; probs: number[] }, { worker: boolean; probs: number[] }];
    expect([shared.worker, alone.worker]).toEqual([true, false]);
    // face-api's demo photo of a group: several faces, so the worker takes a share.
    expect(shared.probs.length).toBeGreaterThanOrEqual(3);
    expect(shared.probs).toEqual(alone.probs);
    expect(requests.some((u) => u.endsWith('/facegender-worker.js'))).toBe(true);
  });

  it('asks nothing of any origin but its own', async () => {
    expect(requests.length).toBeGreaterThan(10);
    expect(requests.filter((u) => !u.startsWith(host.url))).toEqual([]);
    expect(requests.some((u) => u.endsWith('.wasm'))).toBe(true);
  });

  it('explains a non-image file, an oversize image and a photo with no face', async () => {
    const text = await upload(page, { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('these are my notes, not a photo\n') });
    expect(text.status).toBe('notes.jpg: not an image (looks like text). Choose a photo (JPEG, PNG, WebP, GIF or AVIF).');
    const bomb = await upload(page, { name: 'huge.png', mimeType: 'image/png', buffer: await decompressionBomb() });
    expect(bomb.status).toBe("huge.png: the image is 8000x8000 = 64,000,000 pixels, over this page's limit of 40,000,000.");
    const blank = await upload(page, { name: 'wall.jpg', mimeType: 'image/jpeg', buffer: await blankImage() });
    expect(blank.status).toMatch(/^No face found in this photo/);
    expect(blank.faces).toEqual([]);
    expect(await page.getAttribute('#status', 'class')).toBe('');
    expect(await page.getAttribute('body', 'data-state')).toBe('done');
  });

  it('explains a camera the visitor refused', async () => {
    const denied = await launchChromium(path.join(dir, 'profile-denied'), { args: ['--use-fake-device-for-media-stream', '--deny-permission-prompts'] });
    try {
      const p = await denied.newPage();
      await p.goto(host.url);
      await waitForState(p, ['ready']);
      await p.click('#camera');
      expect(await waitForState(p, ['error'])).toMatch(/^The camera is not available: permission was denied \(NotAllowedError\)/);
    } finally {
      await denied.close();
    }
  });

  it('refuses a base that cannot run in a browser, naming those that can', async () => {
    const copy = path.join(dir, 'vgg-model');
    await cp(path.join(dir, 'face-1'), copy, { recursive: true });
    const file = path.join(copy, 'facegender.json');
    const manifest = JSON.parse(await readFile(file, 'utf8')) as { base: { id: string } };
    manifest.base.id = 'vgg16-imagenet';
    await writeFile(file, JSON.stringify(manifest));
    await expect(exportWebSite(copy, path.join(dir, 'vgg-site'))).rejects.toThrow(`cannot export this model to the browser: its base vgg16-imagenet (VGG16 conv base (13 conv + 5 pool), global average pool) has no tfjs graph model to run in a browser. Bases that export: ${exportableBasesText()}`);
    expect(exportableBasesText()).toBe('faceres, face (faceres-deep), faceres-deep, mobileface, generic (centernet), centernet');
  });
});
