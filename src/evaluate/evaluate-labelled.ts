import { UsageError } from '../errors.js';
import { bootstrapStatistic, type Interval } from './bootstrap.js';
import { certainty, predictedLabel } from './certainty.js';
import { checkThreshold } from './scores.js';
import { categoryAccuracy, type CategoryReport } from './subgroups.js';

/** What classifying one labelled photo gave. */
export interface LabelledOutcome {
  /** As the labels name it (relative to the data folder). */
  path: string;
  label: number;
  /** P(class 1) of the face classified; null when no face was found. */
  prob: number | null;
  /** Faces found in the photo (1 when it was classified whole). */
  faces: number;
  groups?: Record<string, string>;
}

export interface LabelledPrediction extends LabelledOutcome {
  /** Null when no face was found. */
  predicted: 0 | 1 | null;
  certainty: number | null;
  correct: boolean;
}

export const LABELLED_METRICS = ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'noFaceRate'] as const;
export type LabelledMetric = (typeof LABELLED_METRICS)[number];

export interface LabelledEvaluation {
  classNames: string[];
  threshold: number;
  n: number;
  /** Photos without a face: each counts as an error (in accuracy, recall, specificity and every group). */
  noFace: number;
  /** Photos with more than one face: the face the detector was surest of was classified. */
  severalFaces: number;
  resamples: number;
  level: number;
  seed: number;
  /**
   * Over every photo, a photo without a face counting as wrong: accuracy, precision and recall
   * of class 1, specificity (class 0 accuracy), F1 and the share of photos without a face, each
   * with a percentile bootstrap interval.
   */
  metrics: Record<LabelledMetric, Interval>;
  /** Accuracy on the photos where a face was found; null when none was. */
  faceAccuracy: Interval | null;
  /**
   * Rows: the true class; columns: predicted class 0, predicted class 1, no face. Each cell's
   * interval is of its count (whole numbers, rounded outwards), from the same resamples as the metrics.
   */
  confusion: Array<Array<Interval>>;
  /** Accuracy per value of each group column, with intervals, and the largest gap. */
  groups: CategoryReport | null;
  predictions: LabelledPrediction[];
}

export interface LabelledOptions {
  /** Group columns to report accuracy for (values from each outcome's `groups`). */
  groupBy?: readonly string[];
  resamples?: number;
  seed?: number;
  level?: number;
}

/** 3x2 confusion counts of the photos at `indices` (with repeats): [true][predicted 0, predicted 1, no face]. */
function confusionOf(labels: Uint8Array, predicted: Int8Array, indices: ArrayLike<number>, out: Float64Array): Float64Array {
  out.fill(0);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k] as number;
    const p = predicted[i] as number;
    const cell = (labels[i] as number) * 3 + (p < 0 ? 2 : p);
    out[cell] = (out[cell] as number) + 1;
  }
  return out;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

/** The metrics of a 2x3 confusion (no face counted against the true class: a missed Male lowers recall, a missed Female specificity). */
function metricsOf(c: Float64Array): Record<LabelledMetric, number | null> {
  const [tn = 0, fp = 0, missed0 = 0, fn = 0, tp = 0, missed1 = 0] = c;
  const n = tn + fp + missed0 + fn + tp + missed1;
  return {
    accuracy: ratio(tn + tp, n),
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, fn + tp + missed1),
    specificity: ratio(tn, tn + fp + missed0),
    // 2PR/(P+R) written in counts, as metrics.ts does; a missed Male is a false negative.
    f1: ratio(2 * tp, 2 * tp + fp + fn + missed1),
    noFaceRate: ratio(missed0 + missed1, n),
  };
}

/**
 * Scores a model on labelled photos (e.g. a folder of ordinary photos run through detection,
 * alignment and classification): accuracy, F1 and the confusion matrix with bootstrap intervals,
 * where a photo that gave no face counts as an error, and accuracy per group of any column.
 */
export function evaluateLabelled(classNames: readonly string[], threshold: number, outcomes: readonly LabelledOutcome[], options: LabelledOptions = {}): LabelledEvaluation {
  checkThreshold(threshold);
  if (!(threshold >= 0 && threshold < 1)) throw new UsageError(`threshold is ${threshold}, expected a number in [0, 1)`);
  const n = outcomes.length;
  if (n === 0) throw new UsageError('no labelled photos to evaluate');
  const { resamples = 1000, seed = 1, level = 0.95 } = options;
  const labels = Uint8Array.from(outcomes, (o) => o.label);
  const predicted = Int8Array.from(outcomes, (o) => (o.prob === null ? -1 : predictedLabel(o.prob, threshold)));
  for (const [i, o] of outcomes.entries()) {
    if (o.label !== 0 && o.label !== 1) throw new UsageError(`photo ${i} (${o.path}) has label ${o.label}, expected 0 or 1`);
  }
  const cells = new Float64Array(6);
  const bootstrap = (statistic: (indices: Uint32Array) => number | null) => bootstrapStatistic(n, statistic, { resamples, seed, level });
  // Every interval comes from the same resamples: each call restarts the stream from the seed.
  const metrics = Object.fromEntries(
    LABELLED_METRICS.map((name) => [name, bootstrap((indices) => metricsOf(confusionOf(labels, predicted, indices, cells))[name])]),
  ) as Record<LabelledMetric, Interval>;
  // Counts get whole-number bounds, widened outwards from the interpolated percentiles.
  const countInterval = (iv: Interval): Interval => ({ ...iv, lo: iv.lo === null ? null : Math.floor(iv.lo), hi: iv.hi === null ? null : Math.ceil(iv.hi) });
  const confusion = [0, 1].map((t) => [0, 1, 2].map((p) => countInterval(bootstrap((indices) => confusionOf(labels, predicted, indices, cells)[t * 3 + p] as number))));

  const withFace = outcomes.flatMap((o, i) => (o.prob === null ? [] : [i]));
  const faceAccuracy = withFace.length
    ? bootstrapStatistic(
        withFace.length,
        (picked) => {
          let right = 0;
          for (let k = 0; k < picked.length; k++) {
            const i = withFace[picked[k] as number] as number;
            if (predicted[i] === labels[i]) right++;
          }
          return right / picked.length;
        },
        { resamples, seed, level },
      )
    : null;

  const groupBy = options.groupBy ?? [];
  // A photo without a face scores as the wrong class, so that it counts as an error in its group too.
  const scored = outcomes.map((o) => o.prob ?? (o.label === 1 ? 0 : 1));
  const groups = groupBy.length > 0 ? categoryAccuracy(labels, scored, threshold, outcomes.map((o) => o.groups), groupBy, { resamples, seed, level }) : null;

  return {
    classNames: [...classNames],
    threshold,
    n,
    noFace: n - withFace.length,
    severalFaces: outcomes.filter((o) => o.faces > 1).length,
    resamples,
    level,
    seed,
    metrics,
    faceAccuracy,
    confusion,
    groups,
    predictions: outcomes.map((o, i) => {
      const p = predicted[i] as number;
      return {
        ...o,
        predicted: p < 0 ? null : (p as 0 | 1),
        certainty: o.prob === null ? null : certainty(o.prob, threshold),
        correct: p === o.label,
      };
    }),
  };
}
