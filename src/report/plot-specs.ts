import type { TopLevelSpec } from 'vega-lite';
import type { Interval } from '../evaluate/bootstrap.js';
import type { ReliabilityBin, RocPoint } from '../evaluate/metrics.js';
import type { SubgroupReport } from '../evaluate/subgroups.js';
import type { SweepRow, ThresholdChoice } from '../evaluate/threshold-sweep.js';
import type { EpochRecord } from '../train/fit.js';

/**
 * Vega-Lite specs for the report's plots: pure functions of the run's numbers, with every value
 * inline so that rendering needs no loader. Marked layers (best epoch, chosen threshold, largest
 * gap…) carry a `name`, which the tests and the page's number tables rely on.
 */

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const SERIES = ['#1f77b4', '#ff7f0e'];
const MARK = '#c0392b';
const HIGHLIGHT = '#fff3bf';
const CONFIG = { font: 'sans-serif', view: { stroke: '#ddd' }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14 } } as const;

/** "female" → "Female": the study labels its plots Female/Male. */
export function displayClassName(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

export interface TrainingMarks {
  /** Epoch whose weights the model keeps (early stopping restores it); 0 when none improved. */
  bestEpoch: number;
  stoppedEarly: boolean;
}

export interface TrainingPoint {
  epoch: number;
  metric: 'loss' | 'accuracy';
  set: 'train' | 'validation';
  value: number;
  phase: EpochRecord['phase'];
}

/** The history in long form: one row per epoch, metric and set. */
export function trainingPoints(history: readonly EpochRecord[]): TrainingPoint[] {
  return history.flatMap((h) => [
    { epoch: h.epoch, metric: 'loss' as const, set: 'train' as const, value: h.loss, phase: h.phase },
    { epoch: h.epoch, metric: 'loss' as const, set: 'validation' as const, value: h.val_loss, phase: h.phase },
    { epoch: h.epoch, metric: 'accuracy' as const, set: 'train' as const, value: h.accuracy, phase: h.phase },
    { epoch: h.epoch, metric: 'accuracy' as const, set: 'validation' as const, value: h.val_accuracy, phase: h.phase },
  ]);
}

/** First epoch of the fine-tuning phase, or null when only the head was trained. */
export function fineTuneStart(history: readonly EpochRecord[]): number | null {
  const first = history.find((h) => h.phase === 'fine-tune');
  return first ? first.epoch : null;
}

/**
 * The study's two panels (loss, accuracy; train and validation), with the epoch early stopping
 * kept marked and, when fine-tuning ran, a rule where it began.
 */
export function trainingCurvesSpec(history: readonly EpochRecord[], marks: TrainingMarks): TopLevelSpec {
  const points = trainingPoints(history);
  const start = fineTuneStart(history);
  const last = history.length ? Math.max(...history.map((h) => h.epoch)) : 1;
  const bestLabel = `best epoch ${marks.bestEpoch}`;
  const panel = (metric: 'loss' | 'accuracy', title: string) => ({
    title,
    width: 300,
    height: 220,
    layer: [
      {
        name: `${metric}-curves`,
        data: { values: points.filter((p) => p.metric === metric) },
        mark: { type: 'line' as const, point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' as const, title: 'Epoch', axis: { tickMinStep: 1, format: 'd' }, scale: { domain: [history.length ? Math.min(...history.map((h) => h.epoch)) : 0, last] } },
          y: { field: 'value', type: 'quantitative' as const, title: metric === 'loss' ? 'Loss' : 'Accuracy', scale: { zero: false } },
          color: { field: 'set', type: 'nominal' as const, title: null, scale: { domain: ['train', 'validation'], range: SERIES }, legend: { orient: 'bottom' as const } },
        },
      },
      ...(marks.bestEpoch >= 1
        ? [
            {
              name: `${metric}-best-epoch`,
              data: { values: [{ epoch: marks.bestEpoch, label: bestLabel }] },
              layer: [
                { mark: { type: 'rule' as const, color: MARK, strokeDash: [4, 3] }, encoding: { x: { field: 'epoch', type: 'quantitative' as const } } },
                {
                  mark: { type: 'text' as const, color: MARK, align: 'left' as const, dx: 3, dy: 2, baseline: 'top' as const, fontSize: 10 },
                  encoding: { x: { field: 'epoch', type: 'quantitative' as const }, y: { value: 0 }, text: { field: 'label' } },
                },
              ],
            },
          ]
        : []),
      ...(start !== null
        ? [
            {
              name: `${metric}-fine-tune-start`,
              data: { values: [{ epoch: start - 0.5, label: 'fine-tuning' }] },
              layer: [
                { mark: { type: 'rule' as const, color: '#555', strokeWidth: 2 }, encoding: { x: { field: 'epoch', type: 'quantitative' as const } } },
                {
                  mark: { type: 'text' as const, color: '#555', align: 'left' as const, dx: 3, baseline: 'bottom' as const, fontSize: 10 },
                  encoding: { x: { field: 'epoch', type: 'quantitative' as const }, y: { value: 220 }, text: { field: 'label' } },
                },
              ],
            },
          ]
        : []),
    ],
  });
  return {
    $schema: SCHEMA,
    description: `Training and validation loss and accuracy over ${history.length} epochs; ${bestLabel}${marks.stoppedEarly ? ', kept by early stopping' : ''}${start !== null ? `; fine-tuning from epoch ${start}` : ''}.`,
    config: CONFIG,
    hconcat: [panel('loss', 'Training and Validation Loss'), panel('accuracy', 'Training and Validation Accuracy')],
    resolve: { scale: { color: 'shared' } },
  };
}

export interface SweepPoint {
  threshold: number;
  metric: 'Accuracy' | 'F1 score';
  value: number;
}

export function sweepPoints(sweep: readonly SweepRow[]): SweepPoint[] {
  return sweep.flatMap((r) => [
    { threshold: r.threshold, metric: 'Accuracy' as const, value: r.accuracy },
    ...(r.f1 === null ? [] : [{ threshold: r.threshold, metric: 'F1 score' as const, value: r.f1 }]),
  ]);
}

/**
 * The study's "Accuracy, F1 Score by Classification Threshold" on validation, with the chosen
 * threshold and its rule marked and, for the plateau rules, the run it was taken from shaded.
 */
export function thresholdSweepSpec(sweep: readonly SweepRow[], choice: ThresholdChoice): TopLevelSpec {
  const ts = sweep.map((r) => r.threshold);
  const domain: [number, number] = [Math.min(...ts, choice.threshold), Math.max(...ts, choice.threshold)];
  const label = `chosen ${choice.threshold} (${choice.rule} rule)`;
  // The label goes on the side of the rule with more room, so it stays inside the plot.
  const labelLeft = choice.threshold > (domain[0] + domain[1]) / 2;
  const x = { field: 'threshold', type: 'quantitative' as const, title: 'Classification threshold', scale: { domain, nice: false } };
  return {
    $schema: SCHEMA,
    description: `Validation accuracy and F1 score for thresholds ${domain[0]} to ${domain[1]}; ${label}: ${choice.reason}.`,
    config: CONFIG,
    title: 'Validation Accuracy and F1 by Threshold',
    width: 480,
    height: 240,
    layer: [
      ...(choice.run
        ? [
            {
              name: 'plateau',
              data: { values: [{ from: choice.run[0] - 0.005, to: choice.run[1] + 0.005 }] },
              mark: { type: 'rect' as const, color: HIGHLIGHT, clip: true },
              encoding: { x: { ...x, field: 'from' }, x2: { field: 'to' } },
            },
          ]
        : []),
      {
        name: 'curves',
        data: { values: sweepPoints(sweep) },
        mark: { type: 'line' as const, point: { size: 12 } },
        encoding: {
          x,
          y: { field: 'value', type: 'quantitative' as const, title: 'Performance metric', scale: { zero: false } },
          color: { field: 'metric', type: 'nominal' as const, title: null, scale: { domain: ['Accuracy', 'F1 score'], range: SERIES }, legend: { orient: 'bottom' as const } },
        },
      },
      {
        name: 'chosen-threshold',
        data: { values: [{ threshold: choice.threshold, label }] },
        layer: [
          { mark: { type: 'rule' as const, color: MARK, strokeWidth: 2 }, encoding: { x } },
          {
            mark: { type: 'text' as const, color: MARK, align: labelLeft ? ('right' as const) : ('left' as const), dx: labelLeft ? -4 : 4, baseline: 'top' as const, fontSize: 11 },
            encoding: { x, y: { value: 2 }, text: { field: 'label' } },
          },
        ],
      },
    ],
  };
}

export interface ConfusionCell {
  true: string;
  predicted: string;
  count: number;
}

/** [[TN, FP], [FN, TP]] as four labelled cells. */
export function confusionCells(confusion: readonly (readonly number[])[], classNames: readonly string[]): ConfusionCell[] {
  const names = classNames.map(displayClassName);
  return [0, 1].flatMap((t) => [0, 1].map((p) => ({ true: names[t] ?? `class ${t}`, predicted: names[p] ?? `class ${p}`, count: confusion[t]?.[p] ?? 0 })));
}

/** The study's seaborn heatmap: true class by row, predicted by column, counts written in. */
export function confusionMatrixSpec(confusion: readonly (readonly number[])[], classNames: readonly string[]): TopLevelSpec {
  const cells = confusionCells(confusion, classNames);
  const order = cells.slice(0, 2).map((c) => c.predicted);
  const max = Math.max(1, ...cells.map((c) => c.count));
  return {
    $schema: SCHEMA,
    description: `Confusion matrix: ${cells.map((c) => `true ${c.true}, predicted ${c.predicted}: ${c.count}`).join('; ')}.`,
    config: CONFIG,
    title: 'Confusion Matrix',
    width: 220,
    height: 220,
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', type: 'nominal', title: 'Predicted', sort: order, axis: { labelAngle: 0, orient: 'bottom' } },
      y: { field: 'true', type: 'nominal', title: 'True', sort: order },
    },
    layer: [
      { name: 'cells', mark: 'rect', encoding: { color: { field: 'count', type: 'quantitative', title: 'images', scale: { scheme: 'blues', domain: [0, max] } } } },
      {
        name: 'counts',
        mark: { type: 'text', fontSize: 16 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: `datum.count > ${max / 2}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

/** ROC points without the thresholds (the last one is −∞, which JSON cannot carry). */
export function rocPoints(roc: readonly RocPoint[]): Array<{ fpr: number; tpr: number }> {
  return roc.map((p) => ({ fpr: p.fpr, tpr: p.tpr }));
}

export function rocSpec(roc: readonly RocPoint[], auc: number | null): TopLevelSpec {
  const title = `ROC Curve${auc === null ? '' : ` (AUC ${auc.toFixed(3)})`}`;
  const rate = (field: string, t: string) => ({ field, type: 'quantitative' as const, title: t, scale: { domain: [0, 1] } });
  return {
    $schema: SCHEMA,
    description: `${title} on the test set: true positive rate (Male recall) against false positive rate, ${roc.length} points.`,
    config: CONFIG,
    title,
    width: 260,
    height: 260,
    layer: [
      {
        name: 'chance',
        data: { values: [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }] },
        mark: { type: 'line', color: '#999', strokeDash: [4, 4] },
        encoding: { x: rate('fpr', 'False positive rate'), y: rate('tpr', 'True positive rate') },
      },
      {
        name: 'roc',
        data: { values: rocPoints(roc) },
        mark: { type: 'line', color: SERIES[0] },
        encoding: { x: rate('fpr', 'False positive rate'), y: rate('tpr', 'True positive rate'), order: { field: 'order', type: 'quantitative' } },
        transform: [{ window: [{ op: 'row_number', as: 'order' }] }],
      },
    ],
  };
}

/** Non-empty calibration bins only: an empty bin has no observed fraction. */
export function reliabilityPoints(bins: readonly ReliabilityBin[]): Array<{ lo: number; hi: number; count: number; meanProb: number; fractionPositive: number }> {
  return bins
    .filter((b) => b.count > 0 && b.meanProb !== null && b.fractionPositive !== null)
    .map((b) => ({ lo: b.lo, hi: b.hi, count: b.count, meanProb: b.meanProb as number, fractionPositive: b.fractionPositive as number }));
}

/** Reliability diagram: fraction Male against mean predicted P(Male) per bin, point size by count. */
export function reliabilitySpec(bins: readonly ReliabilityBin[], ece: number | null): TopLevelSpec {
  const title = `Reliability Diagram${ece === null ? '' : ` (ECE ${ece.toFixed(3)})`}`;
  const prob = (field: string, t: string) => ({ field, type: 'quantitative' as const, title: t, scale: { domain: [0, 1] } });
  return {
    $schema: SCHEMA,
    description: `${title}: for each of ${bins.length} probability bins, the fraction of Male images against the mean predicted probability of Male; the diagonal is perfect calibration.`,
    config: CONFIG,
    title,
    width: 260,
    height: 260,
    layer: [
      {
        name: 'perfect',
        data: { values: [{ meanProb: 0, fractionPositive: 0 }, { meanProb: 1, fractionPositive: 1 }] },
        mark: { type: 'line', color: '#999', strokeDash: [4, 4] },
        encoding: { x: prob('meanProb', 'Mean predicted P(Male)'), y: prob('fractionPositive', 'Fraction Male') },
      },
      {
        name: 'bins',
        data: { values: reliabilityPoints(bins) },
        encoding: { x: prob('meanProb', 'Mean predicted P(Male)'), y: prob('fractionPositive', 'Fraction Male') },
        layer: [
          { mark: { type: 'line', color: SERIES[0] } },
          {
            mark: { type: 'point', filled: true, color: SERIES[0], opacity: 0.8 },
            encoding: { size: { field: 'count', type: 'quantitative', title: 'images', scale: { zero: false, range: [25, 300] }, legend: { orient: 'bottom' } } },
          },
        ],
      },
    ],
  };
}

export interface AccuracyBar {
  label: string;
  /** Ours (trained here), a competitor (scored here, trained elsewhere), or the study's number. */
  source: 'this run' | 'competitor' | 'study (its own split)';
  /** Null for a skipped row, which is shown as text instead of a bar. */
  value: number | null;
  lo: number | null;
  hi: number | null;
  note?: string;
}

/** Comparison rows and the study's numbers as bars; intervals only where we measured them. */
export function accuracyBars(
  rows: ReadonlyArray<{ base: string; kind: 'base' | 'competitor'; status: 'ok' | 'skipped'; accuracy?: Interval }>,
  study: ReadonlyArray<{ base: string; weights: string; accuracy: number }> = [],
): AccuracyBar[] {
  return [
    ...rows.map((r): AccuracyBar => ({
      label: r.kind === 'competitor' ? `${r.base} (competitor)` : r.base,
      source: r.kind === 'competitor' ? 'competitor' : 'this run',
      value: r.status === 'ok' ? (r.accuracy?.value ?? null) : null,
      lo: r.status === 'ok' ? (r.accuracy?.lo ?? null) : null,
      hi: r.status === 'ok' ? (r.accuracy?.hi ?? null) : null,
      ...(r.status === 'skipped' ? { note: 'skipped' } : {}),
    })),
    ...study.map((s): AccuracyBar => ({ label: `study: ${s.base} (${s.weights})`, source: 'study (its own split)', value: s.accuracy, lo: null, hi: null })),
  ];
}

/** Test accuracy per base with 95% CI whiskers; skipped bases are named with "skipped". */
export function accuracyBarsSpec(bars: readonly AccuracyBar[]): TopLevelSpec {
  const order = bars.map((b) => b.label);
  const y = { field: 'label', type: 'nominal' as const, title: null, sort: order, axis: { labelLimit: 260 } };
  const x = { type: 'quantitative' as const, title: 'Test accuracy', scale: { domain: [0, 1] }, axis: { format: '%' } };
  return {
    $schema: SCHEMA,
    description: `Test accuracy per base with 95% bootstrap intervals: ${bars.map((b) => `${b.label} ${b.value === null ? 'skipped' : `${(b.value * 100).toFixed(2)}%`}`).join('; ')}.`,
    config: CONFIG,
    title: 'Test Accuracy by Base (95% CI)',
    width: 420,
    height: { step: 26 },
    layer: [
      {
        name: 'bars',
        data: { values: bars.filter((b) => b.value !== null) },
        mark: { type: 'bar', height: { band: 0.7 } },
        encoding: {
          y,
          x: { ...x, field: 'value' },
          color: { field: 'source', type: 'nominal', title: null, scale: { domain: ['this run', 'competitor', 'study (its own split)'], range: [SERIES[0] as string, '#7f7f7f', '#c7c7c7'] }, legend: { orient: 'bottom', labelLimit: 300 } },
          tooltip: [{ field: 'label' }, { field: 'value', format: '.2%' }],
        },
      },
      {
        name: 'whiskers',
        data: { values: bars.filter((b) => b.value !== null && b.lo !== null && b.hi !== null) },
        layer: [
          { mark: { type: 'rule', color: 'black' }, encoding: { y, x: { ...x, field: 'lo' }, x2: { field: 'hi' } } },
          { mark: { type: 'tick', color: 'black', thickness: 1, size: 10 }, encoding: { y, x: { ...x, field: 'lo' } } },
          { mark: { type: 'tick', color: 'black', thickness: 1, size: 10 }, encoding: { y, x: { ...x, field: 'hi' } } },
        ],
      },
      {
        name: 'values',
        data: { values: bars.map((b) => ({ ...b, text: b.value === null ? (b.note ?? 'no value') : `${(b.value * 100).toFixed(1)}%` })) },
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
        encoding: { y, x: { ...x, field: 'at' }, text: { field: 'text' } },
        transform: [{ calculate: 'datum.hi != null ? datum.hi : (datum.value != null ? datum.value : 0)', as: 'at' }],
      },
    ],
  };
}

export interface SubgroupPoint {
  attribute: string;
  side: 'with' | 'without';
  /** The row's axis label, e.g. "Eyeglasses: with (n=11)". */
  label: string;
  n: number;
  accuracy: number;
  lo: number | null;
  hi: number | null;
  largest: boolean;
}

/** Both sides of each attribute; an empty side (no accuracy) is left out. */
export function subgroupPoints(report: SubgroupReport): SubgroupPoint[] {
  const largest = report.largestGap?.attribute ?? null;
  return report.rows.flatMap((r) =>
    (
      [
        ['with', r.group],
        ['without', r.complement],
      ] as const
    )
      .filter(([, g]) => g.accuracy !== null)
      .map(([side, g]) => ({
        attribute: r.attribute,
        side,
        label: `${r.attribute}: ${side} (n=${g.n})`,
        n: g.n,
        accuracy: g.accuracy as number,
        lo: g.lo,
        hi: g.hi,
        largest: r.attribute === largest,
      })),
  );
}

/**
 * Accuracy with and without each attribute (one row each), with CI whiskers; the rows of the
 * attribute with the largest gap are shaded and outlined.
 */
export function subgroupSpec(report: SubgroupReport): TopLevelSpec {
  const points = subgroupPoints(report);
  const order = points.map((p) => p.label);
  const gap = report.largestGap;
  const y = { field: 'label', type: 'nominal' as const, title: null, sort: order, axis: { labelLimit: 400 } };
  // Accuracies sit near the top; the axis starts just below the lowest interval so gaps show.
  const lowest = Math.min(1, ...points.map((p) => p.lo ?? p.accuracy));
  const from = Math.max(0, Math.floor((lowest - 0.02) * 20) / 20);
  const x = { type: 'quantitative' as const, title: 'Test accuracy', scale: { domain: [from, 1] }, axis: { format: '%' } };
  const side = { field: 'side', type: 'nominal' as const, title: 'images', scale: { domain: ['with', 'without'], range: SERIES }, legend: { orient: 'bottom' as const } };
  return {
    $schema: SCHEMA,
    description: `Test accuracy of images with and without ${report.rows.map((r) => r.attribute).join(', ')}, with 95% bootstrap intervals${gap ? `; largest gap ${gap.attribute}: ${(gap.groupAccuracy * 100).toFixed(1)}% with, ${(gap.complementAccuracy * 100).toFixed(1)}% without` : ''}.`,
    config: CONFIG,
    title: gap ? `Accuracy by Attribute (largest gap: ${gap.attribute}, ${(gap.gap * 100).toFixed(1)} points)` : 'Accuracy by Attribute',
    width: 420,
    height: { step: 20 },
    layer: [
      ...(gap
        ? [
            {
              name: 'largest-gap',
              data: { values: points.filter((p) => p.largest).map((p) => ({ label: p.label, attribute: p.attribute, from, to: 1 })) },
              mark: { type: 'rect' as const, color: HIGHLIGHT, stroke: MARK },
              encoding: { y, x: { ...x, field: 'from' }, x2: { field: 'to' } },
            },
          ]
        : []),
      {
        name: 'intervals',
        data: { values: points.filter((p) => p.lo !== null && p.hi !== null) },
        mark: { type: 'rule' as const },
        encoding: { y, x: { ...x, field: 'lo' }, x2: { field: 'hi' }, color: side },
      },
      {
        name: 'accuracy',
        data: { values: points },
        mark: { type: 'point' as const, filled: true, size: 50 },
        encoding: {
          y,
          x: { ...x, field: 'accuracy' },
          color: side,
          tooltip: [{ field: 'attribute' }, { field: 'side' }, { field: 'n' }, { field: 'accuracy', format: '.1%' }],
        },
      },
    ],
  };
}
