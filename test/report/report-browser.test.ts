import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit } from '../../src/data/split.js';
import { writeSplit } from '../../src/data/split-file.js';
import { compareBases, type Comparison } from '../../src/experiments/compare.js';
import type { Evaluation } from '../../src/evaluate/evaluate-predictions.js';
import { runExperiment, type ExperimentResult } from '../../src/experiments/experiment.js';
import { reportCommand } from '../../src/cli/report-command.js';
import { UsageError } from '../../src/errors.js';
import { writeCompareReport, writeModelReport, type ReportResult } from '../../src/report/write-report.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES } from '../helpers/shared.js';

/*
 * Builds a real small run (mobileface on 120/60/60 identity-disjoint CelebA images) and a real
 * comparison (mobileface, and vggface skipped for lack of weights), writes both reports and opens
 * them in Debian's chromium: every plot is drawn, every gallery holds the expected images, and the
 * page makes no request beyond its own file.
 */

const CHROMIUM = process.env.FACEGENDER_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = '/tmp/facegender-report-screenshot.png';
const COMPARE_SCREENSHOT = '/tmp/facegender-compare-report-screenshot.png';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir: string;
let context: BrowserContext;
let run: ExperimentResult;
let comparison: Comparison;
let modelReport: ReportResult;
let compareReport: ReportResult;

/** Chromium is required, not optional: without it each browser test fails with this message (CI installs it). */
const CHROMIUM_MISSING = existsSync(CHROMIUM)
  ? null
  : `chromium is missing at ${CHROMIUM}: the report's browser test needs Debian's chromium (apt-get install chromium; .ci/run installs it), or set FACEGENDER_CHROMIUM to another chromium binary`;

function requireChromium(): void {
  if (CHROMIUM_MISSING) throw new Error(CHROMIUM_MISSING);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-report-'));
  const cacheDir = path.join(dir, 'cache');
  const dataset = await scanDataset(CELEBA, { attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES });
  const split = makeSplit(dataset, { train: 120, val: 60, test: 60, balanced: true, seed: 3 });
  const splitFile = path.join(dir, 'split.json');
  await writeSplit(split, splitFile);
  const options = { augmentViews: 0, cacheDir, splitFile, resamples: 200 };
  run = await runExperiment(split, 'mobileface', path.join(dir, 'run'), options);
  // An explicit weights path that does not exist: vggface is skipped here even where its weights are installed.
  comparison = await compareBases(split, ['mobileface', 'vggface'], path.join(dir, 'compare'), { ...options, baseOptions: { weights: path.join(dir, 'no-vggface-weights.h5') } });
  modelReport = await writeModelReport(path.join(dir, 'run'));
  compareReport = await writeCompareReport(path.join(dir, 'compare'), { out: path.join(dir, 'pages', 'compare-report.html') });
  if (CHROMIUM_MISSING) return;
  context = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
}, 600_000);

afterAll(async () => {
  await context?.close();
  // The reports and screenshots stay in the temp folder for a person to look at; the rest goes.
  if (dir) for (const sub of ['chromium-profile', 'cache']) await rm(path.join(dir, sub), { recursive: true, force: true });
});

interface Visit {
  page: Page;
  requests: string[];
  consoleErrors: string[];
}

async function open(file: string): Promise<Visit> {
  const page = await context.newPage();
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(m.text());
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, requests, consoleErrors };
}

/** Sizes of every plot's SVG as laid out in the page, and whether it holds drawn marks. */
async function plotBoxes(page: Page) {
  return page.$$eval('figure.plot', (figures) =>
    figures.map((f) => {
      const svg = f.querySelector('svg');
      const box = svg?.getBoundingClientRect();
      return {
        plot: f.getAttribute('data-plot'),
        width: box?.width ?? 0,
        height: box?.height ?? 0,
        marks: svg ? svg.querySelectorAll('path, line, rect, text').length : 0,
        label: svg?.getAttribute('aria-label') ?? '',
      };
    }),
  );
}

async function galleryCount(page: Page, name: string): Promise<number> {
  return page.locator(`ul[data-gallery="${name}"] > li`).count();
}

/** Every image decoded and with alt text. */
async function imagesState(page: Page) {
  // The test runs without DOM typings; an <img> is read through the two fields used.
  type Img = { complete: boolean; naturalWidth: number };
  return page.$$eval('img', (imgs) => ({
    total: imgs.length,
    decoded: imgs.filter((i) => (i as unknown as Img).complete && (i as unknown as Img).naturalWidth > 0).length,
    withAlt: imgs.filter((i) => (i.getAttribute('alt') ?? '').length > 0).length,
    nonData: imgs.filter((i) => !(i.getAttribute('src') ?? '').startsWith('data:image/')).length,
  }));
}

function expectOffline(v: Visit, file: string) {
  const outside = v.requests.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'));
  expect(outside).toEqual([]);
  expect(v.requests.filter((u) => u.startsWith('file://'))).toEqual([pathToFileURL(file).href]);
  // A blocked fetch would show as a Content-Security-Policy refusal in the console.
  expect(v.consoleErrors).toEqual([]);
}

function expectedPlots(ev: Evaluation, hasHistory: boolean): string[] {
  return [...(hasHistory ? ['training'] : []), 'threshold', 'confusion', ...(ev.roc ? ['roc'] : []), 'reliability', ...(ev.subgroups ? ['subgroups'] : [])];
}

/** Distinct images doubted by the evaluation: confidently wrong, or at odds with their identity. */
function suspectPaths(evaluations: Evaluation[]): Set<string> {
  const paths = new Set<string>();
  for (const ev of evaluations) {
    for (const m of ev.suspects.confidentlyWrong) paths.add(m.path);
    for (const c of [...(ev.suspects.identityConflicts?.minority ?? []), ...(ev.suspects.identityConflicts?.tie ?? [])]) paths.add(c.path);
  }
  return paths;
}

describe('model report in chromium', () => {
  it('draws every plot, shows every gallery image and stays offline', async () => {
    requireChromium();
    const ev = run.evaluation;
    const v = await open(modelReport.file);
    const boxes = await plotBoxes(v.page);
    expect(boxes.map((b) => b.plot)).toEqual(expectedPlots(ev, run.trained.history.length > 0));
    for (const b of boxes) {
      expect(b.width, `${b.plot} width`).toBeGreaterThan(50);
      expect(b.height, `${b.plot} height`).toBeGreaterThan(50);
      expect(b.marks, `${b.plot} marks`).toBeGreaterThan(10);
      expect(b.label.length, `${b.plot} aria-label`).toBeGreaterThan(20);
    }

    const wrong = ev.predictions.filter((p) => p.predicted !== p.label);
    expect(await galleryCount(v.page, 'test')).toBe(ev.predictions.length);
    expect(ev.predictions.length).toBe(60);
    expect(await galleryCount(v.page, 'misclassified')).toBe(wrong.length);
    expect(await galleryCount(v.page, 'suspects')).toBe(suspectPaths([ev]).size);
    // The misclassified gallery is sorted by certainty, most certain first.
    const certainties = await v.page.$$eval('ul[data-gallery="misclassified"] .cert', (els) => els.map((el) => Number(/([\d.]+)%/.exec(el.textContent ?? '')?.[1])));
    expect(certainties).toEqual([...wrong].sort((a, b) => b.certainty - a.certainty).map((p) => Number((p.certainty * 100).toFixed(2))));
    // The first test card reads as the study's make_prediction, with the file name.
    const first = ev.predictions[0];
    if (!first) throw new Error('no test prediction');
    const firstCard = await v.page.locator('ul[data-gallery="test"] > li').first().innerText();
    expect(firstCard).toContain(`Certainty: ${(first.certainty * 100).toFixed(2)}%`);
    expect(firstCard).toContain(first.path);

    const imgs = await imagesState(v.page);
    expect(imgs.total).toBe(modelReport.galleries.test! + modelReport.galleries.misclassified! + modelReport.galleries.suspects! + (await v.page.locator('li.card.reference').count()));
    expect(imgs.decoded).toBe(imgs.total);
    expect(imgs.withAlt).toBe(imgs.total);
    expect(imgs.nonData).toBe(0);

    const headings = await v.page.$$eval('h1, h2', (hs) => hs.map((h) => h.textContent));
    expect(headings).toEqual(['facegender report: mobileface on celeba-10k', 'Training', 'Threshold', 'Test results', 'Galleries', 'Subgroups', 'Run facts']);
    const facts = await v.page.locator('table.facts').innerText();
    expect(facts).toContain(run.manifest.base.weightsHash);
    expect(facts).toContain('identity-disjoint, split seed 3');
    expect(await v.page.locator('table.metrics').innerText()).toContain(`${(ev.test.accuracy * 100).toFixed(2)}%`);
    expectOffline(v, modelReport.file);

    const shot = path.join(dir, 'model-report.png');
    await v.page.screenshot({ path: shot, fullPage: true });
    await copyFile(shot, SCREENSHOT);
    expect((await readFile(SCREENSHOT)).subarray(1, 4).toString()).toBe('PNG');
    await v.page.close();
  });
});

describe('comparison report in chromium', () => {
  it('shows the table with the skipped base, the bar chart, every base\'s plots and galleries, offline', async () => {
    requireChromium();
    expect(comparison.rows.map((r) => [r.base, r.status])).toEqual([
      ['mobileface', 'ok'],
      ['vggface', 'skipped'],
    ]);
    const mf = JSON.parse(await readFile(path.join(dir, 'compare', 'mobileface', 'evaluation.json'), 'utf8')) as Evaluation;
    const v = await open(compareReport.file);
    const boxes = await plotBoxes(v.page);
    expect(boxes.map((b) => b.plot)).toEqual(['accuracy-bars', ...expectedPlots(mf, true)]);
    for (const b of boxes) {
      expect(b.width, `${b.plot} width`).toBeGreaterThan(50);
      expect(b.height, `${b.plot} height`).toBeGreaterThan(50);
    }
    const barTexts = await v.page.$$eval('figure[data-plot="accuracy-bars"] svg text', (ts) => ts.map((t) => t.textContent));
    expect(barTexts).toEqual(expect.arrayContaining(['mobileface', 'vggface', 'skipped', 'study: VGGFace (VGGFace)', '97.1%']));

    const table = await v.page.locator('table.compare').innerText();
    expect(table).toMatch(/vggface\s+skipped: .*no-vggface-weights\.h5/);
    expect(table).toContain(`${((comparison.rows[0]?.accuracy?.value ?? NaN) * 100).toFixed(2)}%`);
    expect(await v.page.locator('body').innerText()).toContain('97.07%');

    const wrong = mf.predictions.filter((p) => p.predicted !== p.label).length;
    expect(await galleryCount(v.page, 'test')).toBe(mf.predictions.length);
    expect(await galleryCount(v.page, 'mobileface-misclassified')).toBe(wrong);
    expect(await galleryCount(v.page, 'suspects')).toBe(suspectPaths([mf]).size);
    const imgs = await imagesState(v.page);
    expect(imgs.decoded).toBe(imgs.total);
    expect(imgs.withAlt).toBe(imgs.total);
    expectOffline(v, compareReport.file);

    const shot = path.join(dir, 'compare-report.png');
    await v.page.screenshot({ path: shot, fullPage: true });
    await copyFile(shot, COMPARE_SCREENSHOT);
    await v.page.close();
  });
});

describe('report page size', () => {
  it('stays small for the small run', () => {
    expect(modelReport.bytes).toBeLessThan(2e6);
    expect(modelReport.missingImages).toEqual([]);
    expect(compareReport.missingImages).toEqual([]);
  });
});

describe('report command', () => {
  it('writes the page where --out says, and wants exactly one of --model and --compare', async () => {
    const out = path.join(dir, 'cli', 'model.html');
    await reportCommand().parseAsync(['--model', path.join(dir, 'run'), '--out', out], { from: 'user' });
    const html = await readFile(out, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('facegender report: mobileface on celeba-10k');
    await expect(reportCommand().parseAsync([], { from: 'user' })).rejects.toThrow(UsageError);
    await expect(reportCommand().parseAsync(['--model', path.join(dir, 'run'), '--compare', path.join(dir, 'compare')], { from: 'user' })).rejects.toThrow('exactly one of --model DIR or --compare DIR');
    await expect(reportCommand().parseAsync(['--compare', path.join(dir, 'run')], { from: 'user' })).rejects.toThrow(/compare\.json: missing/);
    await expect(reportCommand().parseAsync(['--model', dir], { from: 'user' })).rejects.toThrow(/facegender\.json: not a facegender model folder/);
  });
});
