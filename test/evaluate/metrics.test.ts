import { describe, expect, it } from 'vitest';
import { bootstrapCI, bootstrapStatistic, BOOTSTRAP_METRICS } from '../../src/evaluate/bootstrap.js';
import { certainty, formatPrediction, predictedLabel } from '../../src/evaluate/certainty.js';
import { binaryMetrics, prepareScores, reliabilityBins, rocCurve, weightedMetrics } from '../../src/evaluate/metrics.js';
import { UsageError } from '../../src/errors.js';
import { SeededRandom } from '../../src/util/random.js';

/*
 * Hand case (8 images). Female (0): 0.15, 0.45, 0.65, 0.25.  Male (1): 0.35, 0.65, 0.85, 0.95.
 * At threshold 0.5: TN = {0.15, 0.45, 0.25}, FP = {0.65}, FN = {0.35}, TP = {0.65, 0.85, 0.95}.
 *   accuracy 6/8 = 0.75, precision 3/4, recall 3/4, F1 = 6/(6+1+1) = 0.75, specificity 3/4.
 * AUC, counting for each Male the Females below it (ties ½): 0.35 → 2, 0.65 → 3 + ½, 0.85 → 4,
 *   0.95 → 4; 13.5 / 16 = 0.84375.
 * Log loss: Female −ln(1−p): 0.1625189 + 0.5978370 + 1.0498221 + 0.2876821; Male −ln p:
 *   1.0498221 + 0.4307829 + 0.1625189 + 0.0512933; total 3.7922773 / 8 = 0.4740347.
 * ECE (bins of width 0.1): bin1 {0.15 F} |0.15−0| = 0.15, bin2 {0.25 F} 0.25, bin3 {0.35 M}
 *   |0.35−1| = 0.65, bin4 {0.45 F} 0.45, bin6 {0.65 F, 0.65 M} |0.65−0.5| = 0.15 (weight 2),
 *   bin8 {0.85 M} 0.15, bin9 {0.95 M} 0.05; (0.15+0.25+0.65+0.45+2·0.15+0.15+0.05)/8 = 2/8 = 0.25.
 */
const handLabels = [0, 1, 0, 1, 0, 1, 0, 1];
const handProbs = [0.15, 0.35, 0.45, 0.65, 0.65, 0.85, 0.25, 0.95];

describe('binaryMetrics on the hand case', () => {
  it('matches the hand-computed values at threshold 0.5', () => {
    const m = binaryMetrics(handLabels, handProbs, 0.5);
    expect(m.n).toBe(8);
    expect(m.confusion).toEqual([[3, 1], [1, 3]]);
    expect(m.accuracy).toBe(0.75);
    expect(m.precision).toBe(0.75);
    expect(m.recall).toBe(0.75);
    expect(m.f1).toBe(0.75);
    expect(m.specificity).toBe(0.75);
    expect(m.perClassAccuracy).toEqual([0.75, 0.75]);
    expect(m.rocAuc).toBe(0.84375);
    expect(m.logLoss).toBeCloseTo(0.4740347, 6);
    expect(m.ece).toBeCloseTo(0.25, 12);
  });

  it('moves with the threshold: 0.3 gives precision 4/6, recall 1, F1 0.8', () => {
    // Above 0.3: Females 0.45, 0.65 (FP), all four Males (TP); TN = 0.15, 0.25; FN none.
    const m = binaryMetrics(handLabels, handProbs, 0.3);
    expect(m.confusion).toEqual([[2, 2], [0, 4]]);
    expect(m.precision).toBeCloseTo(4 / 6, 12);
    expect(m.recall).toBe(1);
    expect(m.f1).toBe(0.8); // 8 / (8 + 2 + 0)
    expect(m.specificity).toBe(0.5);
    expect(m.rocAuc).toBe(0.84375); // threshold-free
  });

  it('predicts Male only for prob strictly above the threshold', () => {
    // At 0.65 both 0.65s are Female: TP = {0.85, 0.95}, FN = {0.35, 0.65}, no FP.
    expect(binaryMetrics(handLabels, handProbs, 0.65).confusion).toEqual([[4, 0], [2, 2]]);
    expect(binaryMetrics(handLabels, handProbs, 0.6499).confusion).toEqual([[3, 1], [1, 3]]);
  });

  it('accepts typed arrays (Float32 probabilities, Uint8 labels)', () => {
    const m = binaryMetrics(Uint8Array.from(handLabels), Float32Array.from(handProbs), 0.5);
    expect(m.confusion).toEqual([[3, 1], [1, 3]]);
    expect(m.rocAuc).toBe(0.84375);
    expect(m.logLoss).toBeCloseTo(0.4740347, 6);
  });

  it('clips log loss at 1e-7 so a certain mistake costs ln(1e7), not Infinity', () => {
    const m = binaryMetrics([1, 0], [0, 0], 0.5);
    expect(m.logLoss).toBeCloseTo((-Math.log(1e-7) - Math.log(1 - 1e-7)) / 2, 9);
    expect(m.logLoss).toBeCloseTo(8.0590483, 6);
  });
});

describe('undefined metrics are null', () => {
  it('one class only: AUC and recall null, precision 0 when something is predicted Male', () => {
    const m = binaryMetrics([0, 0, 0], [0.2, 0.7, 0.4], 0.5);
    expect(m.confusion).toEqual([[2, 1], [0, 0]]);
    expect(m.precision).toBe(0);
    expect(m.recall).toBeNull();
    expect(m.f1).toBe(0); // 0 / (0 + 1 + 0)
    expect(m.specificity).toBeCloseTo(2 / 3, 12);
    expect(m.rocAuc).toBeNull();
    expect(m.perClassAccuracy).toEqual([m.specificity, null]);
  });

  it('nothing predicted Male and no Male image: precision and F1 null', () => {
    const m = binaryMetrics([0, 0], [0.1, 0.3], 0.5);
    expect(m.precision).toBeNull();
    expect(m.f1).toBeNull();
    expect(m.accuracy).toBe(1);
  });

  it('Males but none predicted: precision null, F1 0, specificity null without Females', () => {
    const m = binaryMetrics([1, 1], [0.1, 0.3], 0.5);
    expect(m.precision).toBeNull();
    expect(m.recall).toBe(0);
    expect(m.f1).toBe(0);
    expect(m.specificity).toBeNull();
    expect(rocCurve([1, 1], [0.1, 0.3])).toBeNull();
  });

  it('rejects mismatched, empty or out-of-range inputs with a UsageError', () => {
    expect(() => binaryMetrics([0, 1], [0.5], 0.5)).toThrow(/2 labels but 1 probabilities/);
    expect(() => binaryMetrics([], [], 0.5)).toThrow(UsageError);
    expect(() => binaryMetrics([0, 2], [0.1, 0.2], 0.5)).toThrow(/label 1 is 2/);
    expect(() => binaryMetrics([0, 1], [0.1, NaN], 0.5)).toThrow(/probability 1 is NaN/);
    expect(() => binaryMetrics([0, 1], [0.1, 1.2], 0.5)).toThrow(UsageError);
    expect(() => binaryMetrics([0, 1], [0.1, 0.2], NaN)).toThrow(/threshold/);
  });
});

/** Random scores with many ties (probabilities on a 0.05 grid), Males scoring higher on average. */
function randomScores(n: number, seed: number, grid = 0.05) {
  const random = new SeededRandom(seed);
  const labels = new Uint8Array(n), probs = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = random.next() < 0.5 ? 1 : 0;
    const raw = Math.min(1, Math.max(0, (labels[i] ? 0.65 : 0.35) + (random.next() - 0.5) * 0.9));
    probs[i] = grid ? Math.round(raw / grid) * grid : raw;
  }
  return { labels, probs };
}

/** AUC by brute force over every (Male, Female) pair, ties counting half. */
function pairwiseAuc(labels: ArrayLike<number>, probs: ArrayLike<number>): number {
  let num = 0, pairs = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      const pi = probs[i] as number, pj = probs[j] as number;
      num += pi > pj ? 1 : pi === pj ? 0.5 : 0;
    }
  }
  return num / pairs;
}

describe('ROC curve and AUC', () => {
  const { labels, probs } = randomScores(400, 7);

  it('AUC equals the pairwise count, ties included', () => {
    const auc = binaryMetrics(labels, probs, 0.5).rocAuc as number;
    expect(auc).toBeGreaterThan(0.7);
    expect(auc).toBeCloseTo(pairwiseAuc(labels, probs), 12);
  });

  it('each point is what "prob > threshold" gives, and the trapezoid area is the AUC', () => {
    const roc = rocCurve(labels, probs)!;
    expect(roc[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(roc.at(-1)).toEqual({ fpr: 1, tpr: 1, threshold: -Infinity });
    const distinct = new Set(Array.from(probs)).size;
    expect(roc).toHaveLength(distinct + 1);
    let area = 0;
    for (let k = 0; k < roc.length; k++) {
      const p = roc[k]!;
      if (Number.isFinite(p.threshold)) {
        const m = binaryMetrics(labels, probs, p.threshold);
        const [[tn, fp], [fn, tp]] = m.confusion;
        expect([p.fpr, p.tpr]).toEqual([fp / (tn + fp), tp / (tp + fn)]);
      }
      if (k > 0) area += ((p.fpr - roc[k - 1]!.fpr) * (p.tpr + roc[k - 1]!.tpr)) / 2;
    }
    expect(area).toBeCloseTo(binaryMetrics(labels, probs, 0.5).rocAuc as number, 12);
  });

  it('hand case: points through the tie at 0.65 go diagonally', () => {
    const roc = rocCurve(handLabels, handProbs)!;
    // Distinct values descending 0.95, 0.85, 0.65 (M+F), 0.45, 0.35, 0.25, 0.15.
    expect(roc.map((p) => [p.fpr, p.tpr])).toEqual([[0, 0], [0, 0.25], [0, 0.5], [0.25, 0.75], [0.5, 0.75], [0.5, 1], [0.75, 1], [1, 1]]);
    expect(roc.map((p) => p.threshold)).toEqual([0.95, 0.85, 0.65, 0.45, 0.35, 0.25, 0.15, -Infinity]);
  });
});

describe('reliability bins', () => {
  it('hand case: counts, means and fractions per 0.1 bin', () => {
    const bins = reliabilityBins(handLabels, handProbs);
    expect(bins).toHaveLength(10);
    expect(bins.map((b) => b.count)).toEqual([0, 1, 1, 1, 1, 0, 2, 0, 1, 1]);
    expect(bins[6]).toMatchObject({ lo: 0.6, hi: 0.7, count: 2, fractionPositive: 0.5 });
    expect(bins[6]!.meanProb).toBeCloseTo(0.65, 12);
    expect(bins[0]).toEqual({ lo: 0, hi: 0.1, count: 0, meanProb: null, fractionPositive: null });
    expect(bins[3]).toMatchObject({ count: 1, fractionPositive: 1 });
    const ece = bins.reduce((s, b) => s + (b.count ? (b.count / 8) * Math.abs(b.meanProb! - b.fractionPositive!) : 0), 0);
    expect(ece).toBeCloseTo(binaryMetrics(handLabels, handProbs, 0.5).ece, 12);
  });

  it('puts prob 1 in the last bin and honours a custom bin count', () => {
    const bins = reliabilityBins([1, 0, 1], [1, 0, 0.5], 4);
    expect(bins.map((b) => [b.lo, b.hi, b.count])).toEqual([[0, 0.25, 1], [0.25, 0.5, 0], [0.5, 0.75, 1], [0.75, 1, 1]]);
    expect(() => reliabilityBins([1], [1], 0)).toThrow(UsageError);
  });

  it('a calibrated model has a small ECE, a shifted one a large ECE', () => {
    const random = new SeededRandom(3);
    const n = 5000, labels = new Uint8Array(n), probs = new Float64Array(n), shifted = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      probs[i] = random.next();
      labels[i] = random.next() < probs[i]! ? 1 : 0; // P(Male | p) = p: calibrated by construction
      shifted[i] = Math.min(1, probs[i]! + 0.2);
    }
    expect(binaryMetrics(labels, probs, 0.5).ece).toBeLessThan(0.03);
    expect(binaryMetrics(labels, shifted, 0.5).ece).toBeGreaterThan(0.15);
  });
});

describe('bootstrap', () => {
  const big = randomScores(750, 11, 0);

  it('weighted metrics equal the metrics of the expanded resample', () => {
    const random = new SeededRandom(5);
    const n = 120, { labels, probs } = randomScores(n, 2);
    const weights = new Uint32Array(n);
    const picked: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = random.int(n);
      weights[k]!++;
      picked.push(k);
    }
    const w = weightedMetrics(prepareScores(labels, probs), 0.5, weights);
    const e = binaryMetrics(picked.map((k) => labels[k]!), picked.map((k) => probs[k]!), 0.5);
    for (const key of BOOTSTRAP_METRICS) expect(w[key]).toBeCloseTo(e[key] as number, 12);
    expect(w.rocAuc).toBeCloseTo(pairwiseAuc(picked.map((k) => labels[k]!), picked.map((k) => probs[k]!)), 12);
    expect(w.confusion).toEqual(e.confusion);
  });

  it('is deterministic by seed, and a different seed gives different bounds', () => {
    const a = bootstrapCI(big.labels, big.probs, 0.5, { resamples: 300, seed: 4 });
    const b = bootstrapCI(big.labels, big.probs, 0.5, { resamples: 300, seed: 4 });
    const c = bootstrapCI(big.labels, big.probs, 0.5, { resamples: 300, seed: 5 });
    expect(a).toEqual(b);
    expect(c.metrics.accuracy.value).toBe(a.metrics.accuracy.value);
    expect([c.metrics.rocAuc.lo, c.metrics.rocAuc.hi]).not.toEqual([a.metrics.rocAuc.lo, a.metrics.rocAuc.hi]);
  });

  it('every interval contains its point estimate, which is binaryMetrics', () => {
    const ci = bootstrapCI(big.labels, big.probs, 0.5);
    const point = binaryMetrics(big.labels, big.probs, 0.5);
    expect(ci).toMatchObject({ n: 750, threshold: 0.5, resamples: 1000, level: 0.95, seed: 1 });
    for (const key of BOOTSTRAP_METRICS) {
      const iv = ci.metrics[key];
      expect(iv.value).toBe(point[key]);
      expect(iv.valid).toBe(1000);
      expect(iv.lo!).toBeLessThan(iv.value!);
      expect(iv.hi!).toBeGreaterThan(iv.value!);
    }
  });

  it('accuracy interval matches the normal approximation and narrows with n', () => {
    const width = (n: number) => {
      const s = randomScores(n, 12, 0);
      const iv = bootstrapCI(s.labels, s.probs, 0.5, { resamples: 1000 }).metrics.accuracy;
      const p = iv.value!;
      return { width: iv.hi! - iv.lo!, normal: 2 * 1.96 * Math.sqrt((p * (1 - p)) / n) };
    };
    const small = width(200), large = width(3000);
    expect(small.width / small.normal).toBeGreaterThan(0.85);
    expect(small.width / small.normal).toBeLessThan(1.15);
    expect(large.width / large.normal).toBeGreaterThan(0.85);
    expect(large.width / large.normal).toBeLessThan(1.15);
    expect(large.width).toBeLessThan(small.width / 3); // √(3000/200) ≈ 3.9
  });

  it('bootstrapStatistic draws the same resamples as bootstrapCI for the same seed', () => {
    const { labels, probs } = big;
    const correct = Uint8Array.from(labels, (y, i) => ((probs[i]! > 0.5 ? 1 : 0) === y ? 1 : 0));
    const generic = bootstrapStatistic(750, (idx) => idx.reduce((s, i) => s + correct[i]!, 0) / 750, { resamples: 400, seed: 9 });
    const specific = bootstrapCI(labels, probs, 0.5, { resamples: 400, seed: 9 }).metrics.accuracy;
    expect(generic.value).toBe(specific.value);
    expect(generic.lo).toBeCloseTo(specific.lo!, 12);
    expect(generic.hi).toBeCloseTo(specific.hi!, 12);
  });

  it('percentiles interpolate linearly between order statistics', () => {
    // Statistic = the resample number 0..99 (ignores the indices): quantiles of 0..99 are exact.
    let r = -1;
    const iv = bootstrapStatistic(3, () => r++, { resamples: 100, level: 0.9 });
    expect(iv.value).toBe(-1);
    expect(iv.lo).toBeCloseTo(0.05 * 99, 12);
    expect(iv.hi).toBeCloseTo(0.95 * 99, 12);
  });

  it('leaves out resamples where the statistic is undefined', () => {
    // 2 images of which one Male: a resample has both classes with probability 1/2.
    const iv = bootstrapCI([0, 1], [0.2, 0.8], 0.5, { resamples: 200 }).metrics.rocAuc;
    expect(iv.value).toBe(1);
    expect(iv.valid).toBeGreaterThan(70);
    expect(iv.valid).toBeLessThan(130);
    expect([iv.lo, iv.hi]).toEqual([1, 1]);
    expect(() => bootstrapStatistic(0, () => 1)).toThrow(UsageError);
    expect(() => bootstrapStatistic(5, () => 1, { level: 1 })).toThrow(/level/);
    expect(() => bootstrapStatistic(5, () => 1, { resamples: 0 })).toThrow(/resamples/);
  });
});

describe('certainty and the study\'s prediction text', () => {
  it('formats like make_prediction', () => {
    expect(formatPrediction(0.9604, 0.5)).toBe('Prediction: Male, Certainty: 96.04%');
    expect(formatPrediction(0.007, 0.5)).toBe('Prediction: Female, Certainty: 99.30%');
    expect(formatPrediction(1, 0.58)).toBe('Prediction: Male, Certainty: 100.00%');
  });

  it('takes the label from the threshold but keeps the certainty a probability', () => {
    expect(predictedLabel(0.55, 0.58)).toBe(0);
    expect(certainty(0.55, 0.58)).toBeCloseTo(0.45, 12);
    expect(formatPrediction(0.55, 0.58)).toBe('Prediction: Female, Certainty: 45.00%');
    expect(formatPrediction(0.6, 0.58)).toBe('Prediction: Male, Certainty: 60.00%');
    expect(formatPrediction(0.5, 0.5)).toBe('Prediction: Female, Certainty: 50.00%'); // strict >
    expect(() => certainty(1.5)).toThrow(UsageError);
  });
});
