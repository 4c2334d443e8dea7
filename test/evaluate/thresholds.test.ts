import { describe, expect, it } from 'vitest';
import { binaryMetrics } from '../../src/evaluate/metrics.js';
import {
  chooseThreshold,
  parseThresholdRule,
  sweepThresholds,
  thresholdGrid,
  youdenThreshold,
  type SweepRow,
} from '../../src/evaluate/threshold-sweep.js';
import { UsageError } from '../../src/errors.js';

/*
 * Validation scores shaped like the study's: 10 sure Females (0.05), 10 sure Males (0.95) and
 * eight near the middle. Female: 0.335, 0.435, 0.495, 0.525. Male: 0.335, 0.455, 0.485, 0.635.
 * Correct near-middle images per threshold t (Female if p ≤ t, Male if p > t):
 *   0.30–0.33: 0 + 4 = 4     0.34–0.43: 1 + 3 = 4     0.44–0.45: 2 + 3 = 5
 *   0.46–0.48: 2 + 2 = 4     0.49:      2 + 1 = 3     0.50–0.52: 3 + 1 = 4
 *   0.53–0.63: 4 + 1 = 5     0.64–0.70: 4 + 0 = 4
 * so the maximal accuracy 25/28 is reached at 0.44, 0.45 and 0.53 … 0.63, the study's printout
 * "[0.44 0.45 0.53 0.54 … 0.63]", and the longest run's middle is 0.58.
 * F1 = 2TP / (2TP + FP + FN): at 0.44–0.45 TP = 13, FP = 2, FN = 1 → 26/29 = 0.8966; at 0.30–0.33
 * 28/32; at 0.53–0.63 TP = 11, FN = 3 → 22/25 = 0.88; so max F1 is at 0.44 and 0.45 only (again as
 * in the study).
 */
const labels = [...Array(10).fill(0), ...Array(10).fill(1), 0, 0, 0, 0, 1, 1, 1, 1];
const probs = [...Array(10).fill(0.05), ...Array(10).fill(0.95), 0.335, 0.435, 0.495, 0.525, 0.335, 0.455, 0.485, 0.635];

const round2 = (x: number) => Math.round(x * 100) / 100;
const range = (from: number, to: number) => Array.from({ length: Math.round((to - from) * 100) + 1 }, (_, k) => round2(from + k / 100));

describe('thresholdGrid', () => {
  it('gives the study\'s 41 thresholds 0.30 … 0.70 with exact two-decimal values', () => {
    const grid = thresholdGrid();
    expect(grid).toHaveLength(41);
    expect(grid[0]).toBe(0.3);
    expect(grid[28]).toBe(0.58);
    expect(grid[40]).toBe(0.7);
    for (let k = 0; k < 41; k++) expect(grid[k]).toBe(Number((0.3 + k / 100).toFixed(2)));
  });

  it('honours other ranges and rejects bad ones', () => {
    expect(thresholdGrid({ from: 0.1, to: 0.9, step: 0.2 })).toEqual([0.1, 0.3, 0.5, 0.7, 0.9]);
    expect(thresholdGrid({ from: 0.5, to: 0.5 })).toEqual([0.5]);
    expect(() => thresholdGrid({ step: 0 })).toThrow(UsageError);
    expect(() => thresholdGrid({ from: 0.7, to: 0.3 })).toThrow(/must not be below/);
    expect(() => thresholdGrid({ step: 1e-9 })).toThrow(/more than/);
  });
});

describe('sweepThresholds', () => {
  const sweep = sweepThresholds(labels, probs);

  it('matches the hand-counted accuracy profile', () => {
    const correct = sweep.map((r) => Math.round(r.accuracy * 28) - 20);
    const expected = range(0.3, 0.7).map((t) =>
      t <= 0.43 ? 4 : t <= 0.45 ? 5 : t <= 0.48 ? 4 : t <= 0.49 ? 3 : t <= 0.52 ? 4 : t <= 0.63 ? 5 : 4,
    );
    expect(sweep.map((r) => r.threshold)).toEqual(range(0.3, 0.7));
    expect(correct).toEqual(expected);
  });

  it('agrees with binaryMetrics at every threshold', () => {
    for (const row of sweep) {
      const m = binaryMetrics(labels, probs, row.threshold);
      expect(row.accuracy).toBe(m.accuracy);
      expect(row.f1).toBe(m.f1);
    }
    expect(sweep.find((r) => r.threshold === 0.44)!.f1).toBe(26 / 29);
    expect(sweep.find((r) => r.threshold === 0.58)!.f1).toBe(22 / 25);
  });
});

describe('chooseThreshold', () => {
  const sweep = sweepThresholds(labels, probs);

  it('study rule: middle of the longest max-accuracy run, 0.53–0.63 → 0.58', () => {
    const choice = chooseThreshold(sweep, labels, probs);
    expect(choice.rule).toBe('study');
    expect(choice.atMaximum).toEqual([0.44, 0.45, ...range(0.53, 0.63)]);
    expect(choice.run).toEqual([0.53, 0.63]);
    expect(choice.threshold).toBe(0.58);
    expect(choice.maxAccuracy).toBe(25 / 28);
    expect(choice.accuracy).toBe(25 / 28);
    expect(choice.reason).toMatch(/0\.53–0\.63/);
  });

  it('max-f1 rule: the two-long run 0.44–0.45, whose central threshold nearer 0.5 is 0.45', () => {
    const choice = chooseThreshold(sweep, labels, probs, 'max-f1');
    expect(choice.atMaximum).toEqual([0.44, 0.45]);
    expect(choice.run).toEqual([0.44, 0.45]);
    expect(choice.threshold).toBe(0.45);
    expect(choice.maxF1).toBe(26 / 29);
    expect(choice.accuracy).toBe(25 / 28);
  });

  it('fixed rule returns its value with the validation accuracy there', () => {
    const choice = chooseThreshold(sweep, labels, probs, 'fixed:0.5');
    expect(choice).toMatchObject({ threshold: 0.5, rule: 'fixed:0.5', run: null, accuracy: 24 / 28 });
  });

  /** A sweep whose accuracy is 1 at the given thresholds and 0.5 elsewhere. */
  const synthetic = (atMax: number[]): SweepRow[] =>
    range(0.3, 0.7).map((t) => ({ threshold: t, accuracy: atMax.includes(t) ? 1 : 0.5, f1: 0.5 }));

  it('ties between equally long runs go to the run whose middle is nearest 0.5, then the lower', () => {
    const near = chooseThreshold(synthetic([...range(0.35, 0.37), ...range(0.55, 0.57)]), labels, probs);
    expect(near).toMatchObject({ threshold: 0.56, run: [0.55, 0.57] });
    const symmetric = chooseThreshold(synthetic([...range(0.4, 0.42), ...range(0.58, 0.6)]), labels, probs);
    expect(symmetric).toMatchObject({ threshold: 0.41, run: [0.4, 0.42] });
    const longer = chooseThreshold(synthetic([...range(0.31, 0.35), ...range(0.5, 0.52)]), labels, probs);
    expect(longer).toMatchObject({ threshold: 0.33, run: [0.31, 0.35] });
  });

  it('an even-length run gives its central threshold nearer 0.5', () => {
    expect(chooseThreshold(synthetic(range(0.52, 0.55)), labels, probs).threshold).toBe(0.53);
    expect(chooseThreshold(synthetic(range(0.45, 0.48)), labels, probs).threshold).toBe(0.47);
    expect(chooseThreshold(synthetic([0.7]), labels, probs)).toMatchObject({ threshold: 0.7, run: [0.7, 0.7] });
  });

  it('youden rule on the metrics hand case: J = 0.5 at three cuts, the one nearest 0.5 wins', () => {
    /*
     * Female 0.15, 0.25, 0.45, 0.65; Male 0.35, 0.65, 0.85, 0.95. TPR − FPR below each distinct
     * value (descending): 0.95 → .25, 0.85 → .5, 0.65 → .75 − .25 = .5, 0.45 → .25, 0.35 → .5,
     * 0.25 → .25. The J = 0.5 cuts lie in [0.65, 0.85), [0.45, 0.65) and [0.25, 0.35); their
     * midpoints 0.75, 0.55, 0.30: 0.55 is nearest 0.5.
     */
    const hl = [0, 0, 0, 0, 1, 1, 1, 1], hp = [0.15, 0.25, 0.45, 0.65, 0.35, 0.65, 0.85, 0.95];
    const y = youdenThreshold(hl, hp);
    expect(y.threshold).toBeCloseTo(0.55, 12);
    expect(y.j).toBe(0.5);
    const choice = chooseThreshold(sweepThresholds(hl, hp), hl, hp, 'youden');
    expect(choice).toMatchObject({ rule: 'youden', youdenJ: 0.5, accuracy: 0.75 });
    // Not limited to the sweep range: a separable set whose gap is above 0.7.
    const far = youdenThreshold([0, 0, 1, 1], [0.1, 0.8, 0.9, 0.95]);
    expect(far.j).toBe(1);
    expect(far.threshold).toBeCloseTo(0.85, 12); // midway between 0.8 and 0.9
    expect(() => youdenThreshold([1, 1], [0.2, 0.9])).toThrow(/both Female and Male/);
  });
});

describe('the balanced rule', () => {
  /*
   * Two sources. A: 20 sure Females (0.05), 20 sure Males (0.95) and 3 Males at 0.61. B, small:
   * Females at 0.60 and 0.62, Males at 0.66 and 0.68. Pooled, one error is left only at 0.60 (the
   * B Female at 0.62), so the study rule takes 0.60. Per cell (source x class), the mean accuracy
   * is (A-F, A-M, B-F, B-M): 0.30–0.59 (1, 1, 0, 1) → 0.75; 0.60 (1, 1, ½, 1) → 0.875;
   * 0.61 (1, 20/23, ½, 1); 0.62–0.65 (1, 20/23, 1, 1) → 0.967, the maximum; 0.66–0.67 and on lower.
   * The four-long run 0.62–0.65 has 0.63 and 0.64 in its centre: 0.63 is nearer 0.5.
   */
  const labels2 = [...Array(20).fill(0), ...Array(23).fill(1), 0, 0, 1, 1];
  const probs2 = [...Array(20).fill(0.05), ...Array(20).fill(0.95), 0.61, 0.61, 0.61, 0.6, 0.62, 0.66, 0.68];
  const cells = labels2.map((l, i) => `${i < 43 ? 'A' : 'B'}:${l}`);
  const sweep2 = sweepThresholds(labels2, probs2);

  it('weighs a small source as much as a large one: 0.63, where the pooled study rule takes 0.60', () => {
    expect(chooseThreshold(sweep2, labels2, probs2, 'study').threshold).toBe(0.6);
    const choice = chooseThreshold(sweep2, labels2, probs2, 'balanced', cells);
    expect(choice.rule).toBe('balanced');
    expect(choice.run).toEqual([0.62, 0.65]);
    expect(choice.atMaximum).toEqual([0.62, 0.63, 0.64, 0.65]);
    expect(choice.threshold).toBe(0.63);
    expect(choice.accuracy).toBe(44 / 47);
    expect(choice.reason).toMatch(/mean validation accuracy over 4 cells 0\.9674/);
  });

  it('without cells weighs the two classes alike, and refuses cells that do not fit the scores', () => {
    const byClass = chooseThreshold(sweep2, labels2, probs2, 'balanced');
    expect(byClass.reason).toMatch(/over 2 cells/);
    expect(() => chooseThreshold(sweep2, labels2, probs2, 'balanced', cells.slice(1))).toThrow(/46 cells for 47 validation scores/);
  });
});

describe('parseThresholdRule', () => {
  it('parses the five rules', () => {
    expect(parseThresholdRule('study')).toEqual({ kind: 'study' });
    expect(parseThresholdRule('balanced')).toEqual({ kind: 'balanced' });
    expect(parseThresholdRule('max-f1')).toEqual({ kind: 'max-f1' });
    expect(parseThresholdRule('youden')).toEqual({ kind: 'youden' });
    expect(parseThresholdRule('fixed:0.58')).toEqual({ kind: 'fixed', value: 0.58 });
  });

  it('rejects unknown rules and bad fixed values with a UsageError naming them', () => {
    expect(() => parseThresholdRule('median')).toThrow(UsageError);
    expect(() => parseThresholdRule('median')).toThrow(/unknown threshold rule "median": expected one of study, balanced, max-f1, youden, fixed:<number>/);
    expect(() => parseThresholdRule('fixed:abc')).toThrow(/"abc" is not a number in \[0, 1\]/);
    expect(() => parseThresholdRule('fixed:1.5')).toThrow(UsageError);
    expect(() => parseThresholdRule('fixed:')).toThrow(UsageError);
    expect(() => chooseThreshold([], labels, probs)).toThrow(/empty/);
  });
});
