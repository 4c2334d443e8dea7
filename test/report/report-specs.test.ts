import { describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit, splitPart } from '../../src/data/split.js';
import { FacegenderError } from '../../src/errors.js';
import { formatPrediction } from '../../src/evaluate/certainty.js';
import { STUDY_RESULTS } from '../../src/experiments/compare.js';
import { type CompareRow } from '../../src/experiments/compare-row.js';
import { evaluatePredictions } from '../../src/evaluate/evaluate-predictions.js';
import { identityMajorityConflicts } from '../../src/evaluate/label-suspects.js';
import { reliabilityBins, rocCurve } from '../../src/evaluate/metrics.js';
import { subgroupAccuracy } from '../../src/evaluate/subgroups.js';
import { chooseThreshold, sweepThresholds } from '../../src/evaluate/threshold-sweep.js';
import type { EpochRecord } from '../../src/train/fit.js';
import type { BundleManifest } from '../../src/train/bundle.js';
import {
  accuracyBars,
  accuracyBarsSpec,
  confusionCells,
  confusionMatrixSpec,
  reliabilitySpec,
  rocSpec,
  subgroupSpec,
  thresholdSweepSpec,
  trainingCurvesSpec,
} from '../../src/report/plot-specs.js';
import { prefixIds, renderSvg, svgSize } from '../../src/report/render-svg.js';
import { escapeHtml, predictionText } from '../../src/report/report-html.js';
import { identityIndex, labelSuspectGroups } from '../../src/report/suspect-groups.js';
import { makeThumbnails, THUMBNAIL_DEFAULTS } from '../../src/report/thumbnails.js';
import { buildModelReport } from '../../src/report/write-report.js';
import { SeededRandom } from '../../src/util/random.js';
import { CELEBA, CELEBA_ATTRIBUTES, CELEBA_IDENTITIES } from '../helpers/shared.js';

type Json = Record<string, unknown>;

/** Every object in a spec whose `name` is `name` (layers are found wherever they nest). */
function named(spec: unknown, name: string): Json[] {
  const out: Json[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      if ((v as Json).name === name) out.push(v as Json);
      Object.values(v as Json).forEach(walk);
    }
  };
  walk(spec);
  return out;
}

function valuesOf(layer: Json | undefined): Json[] {
  const data = layer?.data as { values?: Json[] } | undefined;
  if (!data?.values) throw new Error('layer has no inline values');
  return data.values;
}

/** Texts of the SVG's <text> elements. */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1] as string);
}

function epoch(n: number, phase: EpochRecord['phase'], valLoss: number): EpochRecord {
  return { epoch: n, loss: 1 / n, accuracy: 0.5 + n / 40, val_loss: valLoss, val_accuracy: 0.5 + n / 50, seconds: 0.1, phase };
}

describe('training curves spec', () => {
  const head = [epoch(1, 'head', 0.7), epoch(2, 'head', 0.5), epoch(3, 'head', 0.4), epoch(4, 'head', 0.45), epoch(5, 'head', 0.46)];

  it('plots loss and accuracy for train and validation and marks the best epoch', async () => {
    const spec = trainingCurvesSpec(head, { bestEpoch: 3, stoppedEarly: true });
    for (const metric of ['loss', 'accuracy'] as const) {
      const curves = valuesOf(named(spec, `${metric}-curves`)[0]);
      expect(curves).toHaveLength(10);
      const key = metric === 'loss' ? 'val_loss' : 'val_accuracy';
      expect(curves.filter((p) => p.set === 'validation').map((p) => p.value)).toEqual(head.map((h) => h[key]));
      expect(valuesOf(named(spec, `${metric}-best-epoch`)[0])[0]?.epoch).toBe(3);
      expect(named(spec, `${metric}-fine-tune-start`)).toHaveLength(0);
    }
    const svg = await renderSvg(spec);
    expect(svgTexts(svg)).toContain('best epoch 3');
    expect(svgTexts(svg)).not.toContain('fine-tuning');
    expect(svgTexts(svg)).toEqual(expect.arrayContaining(['Training and Validation Loss', 'Training and Validation Accuracy']));
  });

  it('draws a rule where fine-tuning starts when the phase changes', async () => {
    const history = [...head.slice(0, 3), epoch(4, 'fine-tune', 0.35), epoch(5, 'fine-tune', 0.33)];
    const spec = trainingCurvesSpec(history, { bestEpoch: 5, stoppedEarly: false });
    const rule = valuesOf(named(spec, 'loss-fine-tune-start')[0]);
    expect(rule).toEqual([{ epoch: 3.5, label: 'fine-tuning' }]);
    expect(valuesOf(named(spec, 'accuracy-best-epoch')[0])[0]?.epoch).toBe(5);
    const svg = await renderSvg(spec);
    expect(svgTexts(svg).filter((t) => t === 'fine-tuning')).toHaveLength(2);
  });

  it('leaves the best-epoch rule out when no epoch improved', () => {
    expect(named(trainingCurvesSpec(head, { bestEpoch: 0, stoppedEarly: true }), 'loss-best-epoch')).toHaveLength(0);
  });
});

describe('threshold sweep spec', () => {
  // Accuracy is 1 for every threshold in [0.45, 0.62): the study rule takes the middle, 0.53.
  const labels = [0, 0, 1, 1];
  const probs = [0.2, 0.45, 0.62, 0.9];
  const sweep = sweepThresholds(labels, probs);
  const choice = chooseThreshold(sweep, labels, probs, 'study');

  it('plots accuracy and F1 over 0.30–0.70 and marks the chosen threshold and its rule', async () => {
    expect(choice.threshold).toBe(0.53);
    const spec = thresholdSweepSpec(sweep, choice);
    const curves = valuesOf(named(spec, 'curves')[0]);
    expect(curves.filter((p) => p.metric === 'Accuracy')).toHaveLength(41);
    expect(curves.filter((p) => p.metric === 'F1 score').map((p) => p.value)).toEqual(sweep.map((r) => r.f1));
    expect(valuesOf(named(spec, 'chosen-threshold')[0])).toEqual([{ threshold: 0.53, label: 'chosen 0.53 (study rule)' }]);
    const plateau = valuesOf(named(spec, 'plateau')[0])[0] as { from: number; to: number };
    expect(plateau.from).toBeCloseTo(0.445, 9);
    expect(plateau.to).toBeCloseTo(0.615, 9);
    const svg = await renderSvg(spec);
    expect(svgTexts(svg)).toContain('chosen 0.53 (study rule)');
  });

  it('widens the axis to show a threshold outside the sweep and has no plateau for a fixed rule', () => {
    const fixed = chooseThreshold(sweep, labels, probs, 'fixed:0.9');
    const spec = thresholdSweepSpec(sweep, fixed);
    expect(named(spec, 'plateau')).toHaveLength(0);
    const x = ((named(spec, 'chosen-threshold')[0]?.layer as Json[])[0]?.encoding as Json).x as { scale: { domain: number[] } };
    expect(x.scale.domain).toEqual([0.3, 0.9]);
  });
});

describe('confusion matrix spec', () => {
  it('has four cells labelled Female/Male with the counts', async () => {
    const confusion: [[number, number], [number, number]] = [[41, 9], [3, 47]];
    const cells = confusionCells(confusion, ['female', 'male']);
    expect(cells).toEqual([
      { true: 'Female', predicted: 'Female', count: 41 },
      { true: 'Female', predicted: 'Male', count: 9 },
      { true: 'Male', predicted: 'Female', count: 3 },
      { true: 'Male', predicted: 'Male', count: 47 },
    ]);
    const spec = confusionMatrixSpec(confusion, ['female', 'male']);
    expect(valuesOf(spec as unknown as Json)).toEqual(cells);
    const texts = svgTexts(await renderSvg(spec));
    for (const t of ['41', '9', '3', '47', 'Female', 'Male', 'Predicted', 'True']) expect(texts).toContain(t);
  });
});

describe('ROC and reliability specs', () => {
  const rnd = new SeededRandom(5);
  const labels = Array.from({ length: 200 }, (_, i) => i % 2);
  const probs = labels.map((y) => Math.min(0.999, Math.max(0.001, (y ? 0.65 : 0.35) + rnd.uniform(-0.3, 0.3))));

  it('draws every ROC point and names the AUC', async () => {
    const roc = rocCurve(labels, probs);
    if (!roc) throw new Error('both classes are present');
    const spec = rocSpec(roc, 0.875);
    const points = valuesOf(named(spec, 'roc')[0]);
    expect(points).toHaveLength(roc.length);
    expect(points[0]).toEqual({ fpr: 0, tpr: 0 });
    expect(points.at(-1)).toEqual({ fpr: 1, tpr: 1 });
    expect(svgTexts(await renderSvg(spec))).toContain('ROC Curve (AUC 0.875)');
  });

  it('plots only the calibration bins that hold images', () => {
    const bins = reliabilityBins(labels, probs);
    const spec = reliabilitySpec(bins, 0.05);
    const shown = valuesOf(named(spec, 'bins')[0]);
    expect(shown).toHaveLength(bins.filter((b) => b.count > 0).length);
    expect(shown.reduce((s, b) => s + (b.count as number), 0)).toBe(200);
  });
});

describe('accuracy bar chart', () => {
  const rows: CompareRow[] = [
    { base: 'face', kind: 'base', architecture: 'a', weights: 'w', status: 'ok', accuracy: { value: 0.9, lo: 0.85, hi: 0.94, valid: 1000 } },
    { base: 'vggface', kind: 'base', architecture: '', weights: '', status: 'skipped', reason: 'no weights' },
    { base: 'custom', kind: 'base', architecture: 'c', weights: 'none', status: 'ok', accuracy: { value: 0.7, lo: 0.62, hi: 0.77, valid: 1000 } },
    { base: 'faceapi-gender', kind: 'competitor', architecture: 'x', weights: 'y', status: 'ok', accuracy: { value: 0.95, lo: 0.92, hi: 0.97, valid: 1000 } },
  ];

  it('has one bar per evaluated row and the study numbers, whiskers at lo/hi, skipped rows as text', async () => {
    const bars = accuracyBars(rows, STUDY_RESULTS);
    const spec = accuracyBarsSpec(bars);
    const drawn = valuesOf(named(spec, 'bars')[0]);
    expect(drawn.map((b) => b.label)).toEqual(['face', 'custom', 'faceapi-gender (competitor)', 'study: Custom (untrained)', 'study: VGG16 (ImageNet)', 'study: VGGFace (VGGFace)']);
    expect(drawn.map((b) => b.value)).toEqual([0.9, 0.7, 0.95, 0.724, 0.8733, 0.9707]);
    const whiskers = valuesOf(named(spec, 'whiskers')[0]);
    expect(whiskers.map((w) => [w.label, w.lo, w.hi])).toEqual([
      ['face', 0.85, 0.94],
      ['custom', 0.62, 0.77],
      ['faceapi-gender (competitor)', 0.92, 0.97],
    ]);
    const texts = svgTexts(await renderSvg(spec));
    expect(texts).toContain('skipped');
    expect(texts).toEqual(expect.arrayContaining(['vggface', '90.0%', '97.1%']));
  });
});

describe('subgroup spec', () => {
  it('shows both sides of each attribute with intervals and shades the largest gap', async () => {
    const n = 120;
    const labels = Array.from({ length: n }, (_, i) => i % 2);
    // Images 0–29 wear eyeglasses and half of them are wrong; the rest are right except every 10th.
    const probs = labels.map((y, i) => ((i < 30 ? i % 2 === 0 && i % 4 === 0 : i % 10 === 0) ? 1 - (y ? 0.9 : 0.1) : y ? 0.9 : 0.1));
    const attrs = labels.map((_, i) => [i < 30 ? 1 : -1, i % 3 === 0 ? 1 : -1]);
    const report = subgroupAccuracy(labels, probs, 0.5, attrs, ['Eyeglasses', 'Young'], { attributes: ['Eyeglasses', 'Young'], resamples: 200 });
    expect(report.largestGap?.attribute).toBe('Eyeglasses');
    const spec = subgroupSpec(report);
    const points = valuesOf(named(spec, 'accuracy')[0]);
    expect(points).toHaveLength(4);
    const glasses = points.find((p) => p.attribute === 'Eyeglasses' && p.side === 'with');
    expect(glasses?.accuracy).toBe(report.rows[0]?.group.accuracy);
    expect(glasses?.n).toBe(30);
    expect(valuesOf(named(spec, 'intervals')[0]).every((p) => (p.lo as number) <= (p.accuracy as number) && (p.accuracy as number) <= (p.hi as number))).toBe(true);
    expect(valuesOf(named(spec, 'largest-gap')[0]).map((r) => r.attribute)).toEqual(['Eyeglasses', 'Eyeglasses']);
    const svg = await renderSvg(spec);
    expect(svgTexts(svg).some((t) => t.startsWith('Accuracy by Attribute (largest gap: Eyeglasses'))).toBe(true);
  });
});

describe('renderSvg', () => {
  it('gives an <svg> with a positive size, labelled for screen readers', async () => {
    const svg = await renderSvg(confusionMatrixSpec([[1, 2], [3, 4]], ['female', 'male']));
    expect(svg.startsWith('<svg')).toBe(true);
    const size = svgSize(svg);
    expect(size.width).toBeGreaterThan(0);
    expect(size.height).toBeGreaterThan(0);
    expect(svg).toMatch(/<svg[^>]* role="img" aria-label="Confusion matrix: true Female, predicted Female: 1;/);
  });

  it('prefixes ids and the references to them, so that several SVGs can share a page', async () => {
    // The colour legend's gradient has an id, referenced by url(#…).
    const raw = await renderSvg(confusionMatrixSpec([[1, 2], [3, 4]], ['female', 'male']));
    const ids = [...raw.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(0);
    const prefixed = prefixIds(raw, 'r1-');
    for (const id of ids) {
      expect(prefixed).toContain(`id="r1-${id}"`);
      if (raw.includes(`url(#${id})`)) expect(prefixed).toContain(`url(#r1-${id})`);
    }
    expect(prefixed).not.toMatch(/url\(#(?!r1-)/);
  });

  it('refuses a spec that would fetch its data', async () => {
    const spec = { data: { url: 'https://example.com/data.json' }, mark: 'point' as const, encoding: { x: { field: 'a', type: 'quantitative' as const } } };
    await expect(renderSvg(spec)).rejects.toThrow(FacegenderError);
    await expect(renderSvg(spec)).rejects.toThrow(/https:\/\/example.com\/data.json.*inline/);
  });
});

describe('page pieces', () => {
  it('words predictions as the study does', () => {
    for (const [prob, threshold] of [[0.9604, 0.5], [0.2, 0.5], [0.55, 0.58]] as const) {
      const t = predictionText(prob, threshold, ['female', 'male']);
      expect(`${t.label}, ${t.certainty}`).toBe(formatPrediction(prob, threshold));
    }
    expect(predictionText(0.9604, 0.5, ['female', 'male'])).toEqual({ label: 'Prediction: Male', certainty: 'Certainty: 96.04%' });
  });

  it('escapes file names and reasons', () => {
    expect(escapeHtml(`<img src=x onerror="a">&'`)).toBe('&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;');
  });

  it('groups likely label errors by identity, with other images of the person', () => {
    const items = [
      { path: 'female/a.jpg', label: 0, identity: '7' },
      { path: 'male/b.jpg', label: 1, identity: '7' },
      { path: 'male/c.jpg', label: 1, identity: '7' },
      { path: 'male/d.jpg', label: 1, identity: '8' },
      { path: 'female/e.jpg', label: 0, identity: '9' },
    ];
    const conflicts = identityMajorityConflicts(items);
    const groups = labelSuspectGroups(
      [
        {
          name: 'face',
          evaluation: {
            classNames: ['female', 'male'],
            suspects: {
              minCertainty: 0.95,
              confidentlyWrong: [{ path: 'female/e.jpg', label: 0, predicted: 1, prob: 0.99, certainty: 0.99, identity: '9', part: 'test' }],
              identityConflicts: conflicts,
            },
          },
        },
      ],
      identityIndex(items.map((im) => ({ ...im, part: 'train' as const }))),
    );
    expect(groups.map((g) => g.identity)).toEqual(['9', '7']);
    expect(groups[0]?.suspects[0]?.reasons).toEqual(['face: predicted Male with 99.00% certainty (test)']);
    expect(groups[1]?.counts).toEqual([1, 2]);
    expect(groups[1]?.suspects.map((s) => s.path)).toEqual(['female/a.jpg']);
    expect(groups[1]?.references.map((r) => r.path)).toEqual(['male/b.jpg', 'male/c.jpg']);
  });
});

describe('report size on the study-sized test set', () => {
  it('keeps a report with 750 test thumbnails under 10 MB', async () => {
    const dataset = await scanDataset(CELEBA, { attributes: CELEBA_ATTRIBUTES, identities: CELEBA_IDENTITIES });
    const split = makeSplit(dataset, { train: 5000, val: 750, test: 750, balanced: true, seed: 1 });
    const val = splitPart(split, 'val'), test = splitPart(split, 'test');
    // The page's size comes from its images and tables, not from how good the scores are; these
    // stand in for a model that is right about 85% of the time, so the mistake galleries are full.
    const rnd = new SeededRandom(11);
    const score = (y: number) => (rnd.next() < 0.85 ? (y ? rnd.uniform(0.55, 1) : rnd.uniform(0, 0.45)) : y ? rnd.uniform(0, 0.45) : rnd.uniform(0.55, 1));
    const evaluation = evaluatePredictions(
      { classNames: dataset.classNames, attributeNames: dataset.attributeNames, images: split.images },
      { images: val, probs: Float32Array.from(val, (im) => score(im.label)) },
      { images: test, probs: Float32Array.from(test, (im) => score(im.label)) },
      { resamples: 200 },
    );
    const manifest: BundleManifest = {
      format: 'facegender-bundle',
      version: 1,
      packageVersion: '0.0.0',
      createdAt: new Date().toISOString(),
      base: { id: 'face', weightsHash: 'x', preprocess: 'raw', inputSize: { height: 112, width: 112 }, crop: null, interpolation: 'bilinear', dim: 256, architecture: 'a', trainedOn: 't' },
      classNames: dataset.classNames,
      threshold: evaluation.threshold,
      thresholdRule: 'study',
      modelKind: 'head',
      training: { bestEpoch: 6, stoppedEarly: true, datasetRoot: CELEBA, split: split.params, cores: 2 },
    };
    const history = Array.from({ length: 8 }, (_, i) => epoch(i + 1, 'head', 0.5 - i / 100));
    const built = await buildModelReport({ dir: '/nonexistent/run', manifest, history, evaluation }, { split, imageRoot: CELEBA });
    const bytes = Buffer.byteLength(built.html);
    const wrong = evaluation.predictions.filter((p) => p.predicted !== p.label).length;
    expect(built.missingImages).toEqual([]);
    expect(built.galleries.test).toBe(750);
    expect(built.galleries.misclassified).toBe(wrong);
    expect(wrong).toBeGreaterThan(80);
    expect((built.html.match(/<img /g) ?? []).length).toBe(750 + wrong + built.galleries.suspects! + (built.html.match(/class="card reference"/g) ?? []).length);
    expect(bytes).toBeLessThan(10e6);
    console.log(`750-image report: ${(bytes / 1e6).toFixed(2)} MB, ${built.thumbnails} distinct thumbnails, ${wrong} misclassified, ${built.galleries.suspects} suspects`);
  }, 120_000);

  it('makes small JPEG thumbnails of the real images', async () => {
    const files = (await scanDataset(CELEBA)).images.slice(0, 40).map((im) => `${CELEBA}/${im.path}`);
    const { thumbnails, failed } = await makeThumbnails([...files, `${CELEBA}/missing.jpg`]);
    expect(failed.map((f) => f.file)).toEqual([`${CELEBA}/missing.jpg`]);
    expect(failed[0]?.reason).toMatch(/missing\.jpg: cannot read image \(ENOENT\)/);
    expect(thumbnails.size).toBe(40);
    for (const t of thumbnails.values()) {
      expect(t.dataUri.startsWith('data:image/jpeg;base64,/9j/')).toBe(true);
      expect(t.width).toBeLessThanOrEqual(THUMBNAIL_DEFAULTS.width);
      expect(t.height).toBeLessThanOrEqual(THUMBNAIL_DEFAULTS.height);
      expect(Math.max(t.width / THUMBNAIL_DEFAULTS.width, t.height / THUMBNAIL_DEFAULTS.height)).toBe(1);
      expect(t.bytes).toBeLessThan(6000);
    }
  });
});
