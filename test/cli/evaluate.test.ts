import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/run-command.js';
import { evaluateCommand } from '../../src/cli/evaluate-command.js';
import { loadClassifier } from '../../src/predict/classifier.js';
import { blankImage, celebaFiles } from '../helpers/face-images.js';
import { trainSmallBundle } from '../helpers/small-bundle.js';

/*
 * `evaluate --model M --data DIR` on real photos: 40 CelebA images (20 per class; some names with
 * a space and accents) in a folder with a CSV that adds a made-up group column, plus a grey image
 * labelled female that gives no face. Every number is checked against the predictions the JSON
 * lists, and the groups against the CSV.
 */

let dir: string;
let bundle: string;
let photos: string;
let csv: string;
let csvRows: Array<{ file: string; label: string; batch: string }>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-evaluate-'));
  ({ bundle } = await trainSmallBundle(dir));
  photos = path.join(dir, 'my photos');
  await mkdir(path.join(photos, 'faces'), { recursive: true });
  csvRows = [];
  const files = [...(await celebaFiles('female', 20, 300)), ...(await celebaFiles('male', 20, 300))];
  for (const [i, f] of files.entries()) {
    const name = `faces/${i % 7 === 0 ? `été ${i}` : `p${i}`}.jpg`;
    await copyFile(f, path.join(photos, name));
    csvRows.push({ file: name, label: f.includes('/male/') ? 'male' : 'female', batch: ['north', 'south', 'east'][i % 3] as string });
  }
  await writeFile(path.join(photos, 'grey.jpg'), await blankImage());
  csvRows.push({ file: 'grey.jpg', label: '0', batch: 'north' });
  csv = path.join(dir, 'labels.csv');
  await writeFile(csv, ['file,label,batch', ...csvRows.map((r) => `${r.file.includes(' ') ? `"${r.file}"` : r.file},${r.label},${r.batch}`)].join('\n') + '\n');
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `facegender evaluate …` in this process, capturing what it prints. */
function evaluate(args: string[]): Promise<{ stdout: string; error?: Error }> {
  return runCommand(evaluateCommand(), ['--model', bundle, ...args]);
}

type Pred = { path: string; label: number; predicted: number | null; correct: boolean; faces: number; groups?: { batch: string } };

describe('facegender evaluate --data (labelled photos through detection)', () => {
  it('writes evaluation.json, evaluation.md and report.html whose numbers the predictions confirm', async () => {
    const out = path.join(dir, 'runs', 'eval-1');
    const r = await evaluate(['--data', photos, '--labels', csv, '--group-by', 'batch', '--out', out, '--html', '--resamples', '300']);
    expect(r.error).toBeUndefined();
    const e = JSON.parse(await readFile(path.join(out, 'evaluation.json'), 'utf8'));
    const preds: Pred[] = e.predictions;
    expect(preds).toHaveLength(41);
    // Labels: CSV rows, class names or indices.
    const byFile = new Map(csvRows.map((row) => [row.file, row]));
    for (const p of preds) expect(p.label).toBe(['female', '0'].includes(byFile.get(p.path)?.label as string) ? 0 : 1);
    // The grey image gives no face and counts as an error.
    expect(preds.find((p) => p.path === 'grey.jpg')).toMatchObject({ predicted: null, correct: false, faces: 0 });
    const noFace = preds.filter((p) => p.predicted === null).length;
    expect(e.noFace).toBe(noFace);
    expect(noFace).toBeGreaterThanOrEqual(1);
    const right = preds.filter((p) => p.predicted === p.label).length;
    expect(e.metrics.accuracy.value).toBeCloseTo(right / 41, 12);
    expect(right / 41).toBeGreaterThan(0.6);
    const tp = preds.filter((p) => p.label === 1 && p.predicted === 1).length;
    const fp = preds.filter((p) => p.label === 0 && p.predicted === 1).length;
    const missedMale = preds.filter((p) => p.label === 1 && p.predicted !== 1).length;
    expect(e.metrics.f1.value).toBeCloseTo((2 * tp) / (2 * tp + fp + missedMale), 12);
    for (const [t, row] of e.confusion.entries()) {
      for (const [k, cell] of row.entries()) {
        const want = preds.filter((p) => p.label === t && (k === 2 ? p.predicted === null : p.predicted === k)).length;
        expect(cell.value).toBe(want);
        expect(cell.lo).toBeLessThanOrEqual(want);
        expect(cell.hi).toBeGreaterThanOrEqual(want);
      }
    }
    expect(e.metrics.accuracy.lo).toBeLessThan(e.metrics.accuracy.value);
    // Groups: as many photos per value as the CSV has, each value's accuracy from its predictions.
    const batch = e.groups.columns[0];
    expect(batch.column).toBe('batch');
    for (const g of batch.groups) {
      const rows = csvRows.filter((row) => row.batch === g.value);
      const mine = preds.filter((p) => p.groups?.batch === g.value);
      expect(g.n).toBe(rows.length);
      expect(mine).toHaveLength(rows.length);
      expect(g.accuracy).toBeCloseTo(mine.filter((p) => p.correct).length / rows.length, 12);
    }
    expect(batch.groups.map((g: { value: string }) => g.value)).toEqual(['east', 'north', 'south']);
    const accs = batch.groups.map((g: { accuracy: number }) => g.accuracy);
    expect(batch.gap).toBeCloseTo(Math.max(...accs) - Math.min(...accs), 12);
    expect(e.groups.largestGap?.column ?? 'batch').toBe('batch');

    const md = await readFile(path.join(out, 'evaluation.md'), 'utf8');
    expect(md).toContain(`${noFace} gave no face (counted as errors)`);
    expect(md).toContain('### batch (41 images)');
    expect(r.stdout).toContain('| accuracy |');
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    const wrongWithFace = preds.filter((p) => !p.correct && p.predicted !== null).length;
    expect(html).toContain(`Misclassified (${wrongWithFace})`);
    expect(html).toContain(`No face found (${noFace})`);
    expect((html.match(/data:image\/jpeg;base64/g) ?? []).length).toBe(41 - right);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('with --no-detect and class folders, classifies each photo whole exactly as the classifier does a dataset file', async () => {
    const folders = path.join(dir, 'folders');
    const files: string[] = [];
    for (const cls of ['female', 'male'] as const) {
      await mkdir(path.join(folders, cls), { recursive: true });
      for (const f of await celebaFiles(cls, 10, 500)) {
        await copyFile(f, path.join(folders, cls, path.basename(f)));
        files.push(path.join(folders, cls, path.basename(f)));
      }
    }
    const r = await evaluate(['--data', folders, '--no-detect', '--json', '--resamples', '100']);
    expect(r.error).toBeUndefined();
    const e = JSON.parse(r.stdout);
    expect(e.detect).toBe(false);
    expect(e.noFace).toBe(0);
    const clf = await loadClassifier(bundle);
    try {
      const probs = await clf.probabilities(files);
      const byPath = new Map<string, Pred & { prob: number }>(e.predictions.map((p: Pred & { prob: number }) => [p.path, p]));
      files.forEach((f, i) => {
        const p = byPath.get(path.relative(folders, f)) as Pred & { prob: number };
        expect(p.label).toBe(f.includes('/male/') ? 1 : 0);
        expect(p.prob).toBeCloseTo(probs[i] as number, 5);
      });
      const right = files.filter((f, i) => ((probs[i] as number) > clf.threshold ? 1 : 0) === (f.includes('/male/') ? 1 : 0)).length;
      expect(e.metrics.accuracy.value).toBeCloseTo(right / 20, 12);
    } finally {
      await clf.dispose();
    }
    // Nothing written without --out.
    expect(await readdir(folders)).toEqual(['female', 'male']);
  });

  it('names the CSV and the line of a missing file, an unknown label and a duplicate row, refuses one class, and writes nothing', async () => {
    const cases: Array<[string, string[], (file: string) => string]> = [
      ['missing', ['file,label', 'faces/p1.jpg,female', 'faces/gone.jpg,male'], (f) => `${f}: line 3: "faces/gone.jpg" is not an image file in ${photos}`],
      ['unknown', ['file,label', 'faces/p1.jpg,female', 'faces/p2.jpg,man'], (f) => `${f}: line 3: unknown label "man" for "faces/p2.jpg" (expected female or 0, male or 1)`],
      ['duplicate', ['file,label', 'faces/p1.jpg,female', 'faces/p22.jpg,male', './faces/p1.jpg,female'], (f) => `${f}: line 4: duplicate row for "faces/p1.jpg" (first on line 2)`],
      ['one class', ['file,label', 'faces/p1.jpg,female', 'faces/p2.jpg,0'], (f) => `${f}: the label column holds one class only (female); a binary classifier needs two`],
    ];
    for (const [name, lines, message] of cases) {
      const file = path.join(dir, `${name}.csv`);
      await writeFile(file, lines.join('\n') + '\n');
      const out = path.join(dir, 'runs', name);
      const r = await evaluate(['--data', photos, '--labels', file, '--out', out]);
      expect(r.error?.message, name).toBe(message(file));
      expect(existsSync(out), name).toBe(false);
    }
  });

  it('names a missing group column and options that do not fit the mode', async () => {
    const r = await evaluate(['--data', photos, '--labels', csv, '--group-by', 'age']);
    expect(r.error?.message).toBe(`${csv}: --group-by age: no such column (columns: batch)`);
    expect((await evaluate(['--labels', csv])).error?.message).toBe('--labels need --data DIR (a folder of labelled photos)');
    expect((await evaluate(['--data', photos, '--labels', csv, '--split', 'x.json'])).error?.message).toContain('--split evaluate a model on its split and cannot go with --data');
    expect((await evaluate(['--data', photos, '--labels', csv, '--html'])).error?.message).toBe('--html writes report.html into the --out folder; give --out DIR');
  });
});
