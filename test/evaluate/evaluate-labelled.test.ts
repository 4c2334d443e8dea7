import { describe, expect, it } from 'vitest';
import { evaluateLabelled, type LabelledOutcome } from '../../src/evaluate/evaluate-labelled.js';

/*
 * 12 photos at threshold 0.5, counted by hand:
 *   female: 4 right (prob < 0.5), 1 predicted male, 1 without a face
 *   male:   3 right, 1 predicted female, 2 without a face
 * accuracy 7/12; precision (male) 3/(3+1); recall 3/(3+1+2); specificity 4/(4+1+1);
 * F1 = 2·3/(2·3 + 1 + 1 + 2) = 0.6; no face 3/12; accuracy where a face was found 7/9.
 */
const outcomes: LabelledOutcome[] = [
  ...[0.1, 0.2, 0.3, 0.4].map((prob, i) => ({ path: `f${i}.jpg`, label: 0, prob, faces: 1, groups: { site: i < 2 ? 'a' : 'b' } })),
  { path: 'f4.jpg', label: 0, prob: 0.9, faces: 2, groups: { site: 'a' } },
  { path: 'f5.jpg', label: 0, prob: null, faces: 0, groups: { site: 'b' } },
  ...[0.6, 0.7, 0.8].map((prob, i) => ({ path: `m${i}.jpg`, label: 1, prob, faces: 1, groups: { site: 'a' } })),
  { path: 'm3.jpg', label: 1, prob: 0.2, faces: 1, groups: { site: 'b' } },
  { path: 'm4.jpg', label: 1, prob: null, faces: 0, groups: { site: 'b' } },
  { path: 'm5.jpg', label: 1, prob: null, faces: 0 },
];

describe('evaluateLabelled', () => {
  const e = evaluateLabelled(['female', 'male'], 0.5, outcomes, { groupBy: ['site'], resamples: 400 });

  it('counts a photo without a face as an error, with hand-counted metrics and confusion', () => {
    expect(e.n).toBe(12);
    expect(e.noFace).toBe(3);
    expect(e.severalFaces).toBe(1);
    expect(e.metrics.accuracy.value).toBeCloseTo(7 / 12, 12);
    expect(e.metrics.precision.value).toBeCloseTo(3 / 4, 12);
    expect(e.metrics.recall.value).toBeCloseTo(3 / 6, 12);
    expect(e.metrics.specificity.value).toBeCloseTo(4 / 6, 12);
    expect(e.metrics.f1.value).toBeCloseTo(0.6, 12);
    expect(e.metrics.noFaceRate.value).toBeCloseTo(3 / 12, 12);
    expect(e.faceAccuracy?.value).toBeCloseTo(7 / 9, 12);
    expect(e.confusion.map((row) => row.map((c) => c.value))).toEqual([[4, 1, 1], [1, 3, 2]]);
    expect(e.predictions.filter((p) => p.correct)).toHaveLength(7);
    expect(e.predictions.find((p) => p.path === 'm4.jpg')).toMatchObject({ predicted: null, certainty: null, correct: false });
    expect(e.predictions.find((p) => p.path === 'f4.jpg')).toMatchObject({ predicted: 1, correct: false });
    expect(e.predictions.find((p) => p.path === 'm1.jpg')?.certainty).toBeCloseTo(0.7, 6);
  });

  it('gives seeded intervals around each value, and counts in the confusion intervals', () => {
    for (const iv of Object.values(e.metrics)) {
      expect(iv.lo!).toBeLessThanOrEqual(iv.value!);
      expect(iv.hi!).toBeGreaterThanOrEqual(iv.value!);
    }
    expect(e.metrics.accuracy.hi! - e.metrics.accuracy.lo!).toBeGreaterThan(0.2);
    const cell = e.confusion[1]![2]!;
    expect([cell.lo! <= 2, cell.hi! >= 2, Number.isInteger(cell.lo), cell.hi! <= 12]).toEqual([true, true, true, true]);
    expect(evaluateLabelled(['female', 'male'], 0.5, outcomes, { groupBy: ['site'], resamples: 400 })).toEqual(e);
  });

  it('reports each group with the photos without a face counted against it', () => {
    const site = e.groups?.columns[0];
    // a: f0 f1 right, f4 wrong, m0 m1 m2 right → 5/6; b: f2 f3 right, f5 no face, m3 wrong, m4 no face → 2/5; m5 has no site.
    expect(site?.groups.map((g) => [g.value, g.n, g.accuracy])).toEqual([['a', 6, 5 / 6], ['b', 5, 2 / 5]]);
    expect(site?.n).toBe(11);
    expect(e.groups?.largestGap).toMatchObject({ column: 'site', best: { value: 'a' }, worst: { value: 'b' } });
    expect(e.groups?.largestGap?.gap).toBeCloseTo(5 / 6 - 2 / 5, 12);
  });

  it('refuses an empty list and a bad label', () => {
    expect(() => evaluateLabelled(['female', 'male'], 0.5, [])).toThrow('no labelled photos to evaluate');
    expect(() => evaluateLabelled(['female', 'male'], 0.5, [{ path: 'x.jpg', label: 2, prob: 0.5, faces: 1 }])).toThrow('photo 0 (x.jpg) has label 2');
  });
});
