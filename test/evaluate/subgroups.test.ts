import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { confidentlyWrong, identityMajorityConflicts, type LabelledItem } from '../../src/evaluate/label-suspects.js';
import { categoryAccuracy, DEFAULT_SUBGROUP_ATTRIBUTES, subgroupAccuracy } from '../../src/evaluate/subgroups.js';
import { UsageError } from '../../src/errors.js';
import { CELEBA, CELEBA_IDENTITIES } from '../helpers/shared.js';

/*
 * 200 images, alternately Female / Male. Columns: Eyeglasses (0/1), Young (CelebA's ±1), Bald
 * (never present).
 * - Eyeglasses on images 0–49 (25 F, 25 M). Every Female there is right, 5 of the 25 Males are
 *   right: group accuracy 30/50 = 0.6 (Female 1.0, Male 0.2).
 * - Images 50–199 (75 F, 75 M): all right except the first 8 with i % 19 == 0 or i % 23 == 0
 *   (57, 69, 76, 92, 95, 114, 115, 133: 5 M, 3 F): 142/150 = 0.94667.
 *   Eyeglasses gap = 0.94667 − 0.6 = 0.34667.
 * - Young on even images, i.e. exactly the Females: 97/100 right; not Young = the Males: 75/100.
 */
function constructed() {
  const n = 200;
  const labels: number[] = [], probs: number[] = [], attrs: number[][] = [];
  let wrongMales = 0, wrongOutside = 0;
  for (let i = 0; i < n; i++) {
    const y = i % 2;
    labels.push(y);
    let right = true;
    if (i < 50 && y === 1 && wrongMales < 20) {
      right = false;
      wrongMales++;
    } else if (i >= 50 && (i % 19 === 0 || i % 23 === 0) && wrongOutside < 8) {
      right = false;
      wrongOutside++;
    }
    const sure = y === 1 ? 0.9 : 0.1;
    probs.push(right ? sure : 1 - sure);
    attrs.push([i < 50 ? 1 : 0, i % 2 === 0 ? 1 : -1, -1]);
  }
  return { labels, probs, attrs, names: ['Eyeglasses', 'Young', 'Bald'] };
}

describe('subgroupAccuracy', () => {
  const c = constructed();
  const options = { attributes: ['Eyeglasses', 'Young', 'Bald'], resamples: 500 };

  it('finds the Eyeglasses gap with hand-counted accuracies', () => {
    // Wrong outside: i ≥ 50 with i % 19 == 0 or i % 23 == 0, the first 8: 57, 69, 76, 92, 95, 114, 115, 133.
    const report = subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs, c.names, options);
    const glasses = report.rows[0]!;
    expect(glasses.attribute).toBe('Eyeglasses');
    expect(glasses.group).toMatchObject({ n: 50, accuracy: 0.6, perClass: { female: { n: 25, accuracy: 1 }, male: { n: 25, accuracy: 0.2 } } });
    expect(glasses.group.errorRate).toBeCloseTo(0.4, 12);
    expect(glasses.complement.n).toBe(150);
    expect(glasses.complement.accuracy).toBeCloseTo(142 / 150, 12);
    // 57, 69, 95, 115, 133 are Male, 76, 92, 114 Female.
    expect(glasses.complement.perClass.male).toEqual({ n: 75, accuracy: 70 / 75 });
    expect(glasses.complement.perClass.female).toEqual({ n: 75, accuracy: 72 / 75 });
    expect(glasses.gap).toBeCloseTo(142 / 150 - 0.6, 12);
    expect(report.largestGap).toEqual({ attribute: 'Eyeglasses', groupAccuracy: 0.6, complementAccuracy: glasses.complement.accuracy, gap: glasses.gap });
  });

  it('Young (±1 values) splits by class: accuracy mirrors per-class accuracy', () => {
    const young = subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs, c.names, options).rows[1]!;
    // Young = even images = all Females (100, 3 wrong: 76, 92, 114); not Young = all Males (100, 20 + 5 wrong).
    expect(young.group).toMatchObject({ n: 100, accuracy: 0.97, perClass: { male: { n: 0, accuracy: null } } });
    expect(young.complement).toMatchObject({ n: 100, accuracy: 0.75, perClass: { female: { n: 0, accuracy: null } } });
  });

  it('reports an empty group with n 0 and null accuracy, not NaN', () => {
    const bald = subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs, c.names, options).rows[2]!;
    expect(bald.group).toEqual({ n: 0, accuracy: null, lo: null, hi: null, errorRate: null, perClass: { female: { n: 0, accuracy: null }, male: { n: 0, accuracy: null } } });
    expect(bald.complement.n).toBe(200);
    expect(bald.gap).toBeNull();
    expect(JSON.stringify(bald)).not.toMatch(/NaN/);
  });

  it('gives seeded bootstrap intervals that contain the accuracy, wider for the smaller group', () => {
    const a = subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs, c.names, options);
    const b = subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs, c.names, options);
    expect(a).toEqual(b);
    const g = a.rows[0]!.group, k = a.rows[0]!.complement;
    expect(g.lo!).toBeLessThan(0.6);
    expect(g.hi!).toBeGreaterThan(0.6);
    // Normal approximation for n = 50, p = 0.6: ±1.96·√(0.24/50) = ±0.136.
    expect(g.hi! - g.lo!).toBeGreaterThan(0.2);
    expect(g.hi! - g.lo!).toBeLessThan(0.33);
    expect(k.hi! - k.lo!).toBeLessThan((g.hi! - g.lo!) / 2);
    // Each group's stream is keyed by its attribute: dropping other attributes changes nothing.
    const alone = subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs, c.names, { ...options, attributes: ['Eyeglasses'] });
    expect(alone.rows[0]).toEqual(a.rows[0]);
    const reseeded = subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs, c.names, { ...options, seed: 2 });
    expect([reseeded.rows[0]!.group.lo, reseeded.rows[0]!.group.hi]).not.toEqual([g.lo, g.hi]);
  });

  it('uses the default attribute list and names unknown attributes and bad values', () => {
    expect(DEFAULT_SUBGROUP_ATTRIBUTES).toEqual(['Eyeglasses', 'Young', 'Pale_Skin', 'Wearing_Hat', 'Heavy_Makeup', 'Bald', 'Blond_Hair']);
    expect(() => subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs, c.names)).toThrow(/unknown attribute "Pale_Skin"/);
    expect(() => subgroupAccuracy(c.labels, c.probs, 0.5, c.attrs.slice(1), c.names, options)).toThrow(/200 images but 199 attribute rows/);
    const bad = c.attrs.map((r) => [...r]);
    bad[3]![0] = 2;
    expect(() => subgroupAccuracy(c.labels, c.probs, 0.5, bad, c.names, options)).toThrow(UsageError);
  });
});

describe('categoryAccuracy', () => {
  // The 200 images above, with a source (first 80 "a", the rest "b") and a three-valued column
  // (i % 3 → x, y, z) that images 190-199 lack.
  const c = constructed();
  const rows = c.labels.map((_, i) => ({ source: i < 80 ? 'a' : 'b', ...(i < 190 ? { tone: ['x', 'y', 'z'][i % 3] } : {}) }));
  const right = c.labels.map((y, i) => ((c.probs[i] as number) > 0.5 ? 1 : 0) === y);
  const count = (pick: (i: number) => boolean) => {
    const idx = right.map((_, i) => i).filter(pick);
    return { n: idx.length, accuracy: idx.filter((i) => right[i]).length / idx.length };
  };

  it('gives each value its count and accuracy, counted here independently, and the best-worst gap', () => {
    const report = categoryAccuracy(c.labels, c.probs, 0.5, rows, ['source', 'tone'], { resamples: 300 });
    const [source, tone] = report.columns;
    // Source a = images 0-79: the 20 wrong Males of 0-49, plus 57, 69, 76 → 57/80.
    expect(source?.groups.map((g) => [g.value, g.n, g.accuracy])).toEqual([
      ['a', 80, 57 / 80],
      ['b', 120, count((i) => i >= 80).accuracy],
    ]);
    expect(count((i) => i < 80)).toEqual({ n: 80, accuracy: 57 / 80 });
    expect(source?.n).toBe(200);
    expect(source?.best).toEqual({ value: 'b', accuracy: 115 / 120 });
    expect(source?.gap).toBeCloseTo(115 / 120 - 57 / 80, 12);
    expect(tone?.n).toBe(190);
    for (const [k, value] of ['x', 'y', 'z'].entries()) {
      const g = tone?.groups[k];
      const want = count((i) => i < 190 && i % 3 === k);
      expect([g?.value, g?.n]).toEqual([value, want.n]);
      expect(g?.accuracy).toBeCloseTo(want.accuracy, 12);
      expect(g!.lo!).toBeLessThanOrEqual(g!.accuracy!);
      expect(g!.hi!).toBeGreaterThanOrEqual(g!.accuracy!);
      expect(g!.perClass.female.n + g!.perClass.male.n).toBe(want.n);
    }
    const gaps = report.columns.map((col) => col.gap as number);
    expect(report.largestGap?.column).toBe(gaps[0]! >= gaps[1]! ? 'source' : 'tone');
    expect(report.largestGap?.gap).toBe(Math.max(...gaps));
  });

  it('keys each value\'s interval by column and value, and has no gap with a single value', () => {
    const a = categoryAccuracy(c.labels, c.probs, 0.5, rows, ['source', 'tone'], { resamples: 300 });
    const alone = categoryAccuracy(c.labels, c.probs, 0.5, rows, ['tone'], { resamples: 300 });
    expect(alone.columns[0]).toEqual(a.columns[1]);
    const one = categoryAccuracy(c.labels, c.probs, 0.5, rows.map(() => ({ source: 'only' })), ['source'], { resamples: 50 });
    expect(one.columns[0]).toMatchObject({ n: 200, gap: null, best: null, worst: null });
    expect(one.largestGap).toBeNull();
    expect(() => categoryAccuracy(c.labels, c.probs, 0.5, rows.slice(1), ['source'])).toThrow(/200 images but 199 group rows/);
  });
});

describe('confidentlyWrong', () => {
  it('lists confident mistakes, most certain first, with the study\'s certainty', () => {
    const items = [
      { path: 'a.jpg', label: 0, prob: 0.99, identity: '7' }, // wrong, Male at 99%
      { path: 'b.jpg', label: 1, prob: 0.03 }, // wrong, Female at 97%
      { path: 'c.jpg', label: 1, prob: 0.9 }, // right
      { path: 'd.jpg', label: 0, prob: 0.9 }, // wrong but only 90% certain
      { path: 'e.jpg', label: 1, prob: 0.5 }, // wrong at threshold 0.58 (Female, 50%)
      { path: 'f.jpg', label: 1, prob: 0.05 }, // wrong, Female at 95%: kept, the bound is inclusive
    ];
    const out = confidentlyWrong(items, 0.58);
    expect(out.map((m) => m.path)).toEqual(['a.jpg', 'b.jpg', 'f.jpg']);
    expect(out[0]).toEqual({ path: 'a.jpg', label: 0, predicted: 1, prob: 0.99, certainty: 0.99, identity: '7' });
    expect(out[1]!.certainty).toBeCloseTo(0.97, 12);
    expect(out[1]!.predicted).toBe(0);
    expect(confidentlyWrong(items, 0.58, 0.5).map((m) => m.path)).toEqual(['a.jpg', 'b.jpg', 'f.jpg', 'd.jpg', 'e.jpg']);
  });
});

describe('identityMajorityConflicts', () => {
  it('separates minority labels from evenly split identities', () => {
    const items: LabelledItem[] = [
      { path: '1.jpg', label: 1, identity: 'A' },
      { path: '2.jpg', label: 1, identity: 'A' },
      { path: '3.jpg', label: 0, identity: 'A' }, // minority of A (2 M : 1 F)
      { path: '4.jpg', label: 0, identity: 'B' },
      { path: '5.jpg', label: 1, identity: 'B' }, // B ties 1 : 1
      { path: '6.jpg', label: 0, identity: 'C' },
      { path: '7.jpg', label: 0 },
    ];
    const r = identityMajorityConflicts(items);
    expect(r.minority).toEqual([{ path: '3.jpg', label: 0, identity: 'A', kind: 'minority', identityCounts: [1, 2] }]);
    expect(r.tie.map((t) => t.path)).toEqual(['4.jpg', '5.jpg']);
    expect(r.counts).toEqual({ images: 7, withoutIdentity: 1, identities: 3, mixedIdentities: 2, minority: 1, tie: 2 });
  });

  it('reproduces the 29 minority and 38 tie images of celeba-10k/suspect_labels.txt', async () => {
    const identityOf = new Map<string, string>();
    for (const line of (await readFile(CELEBA_IDENTITIES, 'utf8')).split(/\r?\n/).slice(1)) {
      const [name, identity] = line.trim().split(/\s+/);
      if (name && identity) identityOf.set(name, identity);
    }
    const items: LabelledItem[] = [];
    for (const [folder, label] of [['female', 0], ['male', 1]] as const) {
      for (const name of await readdir(path.join(CELEBA, folder))) {
        if (name.endsWith('.jpg')) items.push({ path: name, label, identity: identityOf.get(name) });
      }
    }
    expect(items).toHaveLength(10_000);
    const r = identityMajorityConflicts(items);
    const expected = (await readFile(path.join(CELEBA, 'suspect_labels.txt'), 'utf8'))
      .split(/\r?\n/)
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => l.trim().split(/\s+/).join(' '));
    const found = [...r.minority, ...r.tie]
      .map((c) => `${c.path} ${c.label === 1 ? 1 : -1} ${c.identity} ${c.kind}`)
      .sort();
    expect(r.counts.minority).toBe(29);
    expect(r.counts.tie).toBe(38);
    expect(r.counts.mixedIdentities).toBe(48);
    expect(r.counts.withoutIdentity).toBe(0);
    expect(found).toEqual([...expected].sort());
  });
});
