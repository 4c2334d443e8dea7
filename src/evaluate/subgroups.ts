import { UsageError } from '../errors.js';
import { SeededRandom } from '../util/random.js';
import { bootstrapStatistic } from './bootstrap.js';
import { checkScores, checkThreshold, type Labels, type Probs } from './scores.js';

/** CelebA attributes where a gender classifier is likely to behave differently. */
export const DEFAULT_SUBGROUP_ATTRIBUTES = ['Eyeglasses', 'Young', 'Pale_Skin', 'Wearing_Hat', 'Heavy_Makeup', 'Bald', 'Blond_Hair'];

export interface SubgroupOptions {
  /** Attributes to report, by name (default DEFAULT_SUBGROUP_ATTRIBUTES). */
  attributes?: string[];
  resamples?: number;
  seed?: number;
  level?: number;
}

export interface ClassAccuracy {
  n: number;
  accuracy: number | null;
}

/** Accuracy of one group; every ratio is null (not NaN) when the group is empty. */
export interface GroupAccuracy {
  n: number;
  accuracy: number | null;
  /** Percentile bootstrap interval of the accuracy, resampling within the group. */
  lo: number | null;
  hi: number | null;
  errorRate: number | null;
  /**
   * Accuracy on the group's Female and Male images: attributes such as Heavy_Makeup go with one
   * class, so a group's accuracy mostly mirrors that class's accuracy.
   */
  perClass: { female: ClassAccuracy; male: ClassAccuracy };
}

export interface SubgroupRow {
  attribute: string;
  /** Images with the attribute. */
  group: GroupAccuracy;
  /** Images without it. */
  complement: GroupAccuracy;
  /** |group accuracy − complement accuracy|; null when either side is empty. */
  gap: number | null;
}

export interface SubgroupReport {
  n: number;
  threshold: number;
  resamples: number;
  level: number;
  seed: number;
  rows: SubgroupRow[];
  /** The row with the largest gap (first in attribute order on a tie); null when no gap is defined. */
  largestGap: { attribute: string; groupAccuracy: number; complementAccuracy: number; gap: number } | null;
}

/**
 * Accuracy of images with and without each attribute, e.g. to see whether eyeglasses or a hat
 * cost accuracy. `attributes[i][j]` is image i's value of `attributeNames[j]`: 1 means it has the
 * attribute, 0 or -1 (CelebA's raw value) that it does not. Each group's interval is drawn from
 * its own stream keyed by (seed, attribute, side), so it does not change when other attributes
 * are added or removed.
 */
export function subgroupAccuracy(
  labels: Labels,
  probs: Probs,
  threshold: number,
  attributes: ArrayLike<ArrayLike<number>>,
  attributeNames: readonly string[],
  options: SubgroupOptions = {},
): SubgroupReport {
  const n = checkScores(labels, probs);
  checkThreshold(threshold);
  const { attributes: wanted = DEFAULT_SUBGROUP_ATTRIBUTES, resamples = 1000, seed = 1, level = 0.95 } = options;
  if (attributes.length !== n) throw new UsageError(`subgroups: ${n} images but ${attributes.length} attribute rows`);
  const columns = wanted.map((name) => {
    const j = attributeNames.indexOf(name);
    if (j < 0) throw new UsageError(`subgroups: unknown attribute "${name}"; the attribute table has ${attributeNames.join(', ') || 'no attributes'}`);
    return j;
  });
  const correct = correctness(labels, probs, threshold);

  const rows = wanted.map((attribute, a): SubgroupRow => {
    const column = columns[a] as number;
    const members: number[] = [], others: number[] = [];
    for (let i = 0; i < n; i++) {
      const row = attributes[i] as ArrayLike<number>;
      const v = row[column];
      if (v === 1) members.push(i);
      else if (v === 0 || v === -1) others.push(i);
      else throw new UsageError(`subgroups: image ${i} has ${attribute} = ${String(v)}, expected 1, 0 or -1`);
    }
    const side = (indices: number[], name: string) =>
      groupAccuracy(indices, labels, correct, { resamples, level, random: SeededRandom.keyed(seed, attribute, name) });
    const group = side(members, 'group');
    const complement = side(others, 'complement');
    const gap = group.accuracy !== null && complement.accuracy !== null ? Math.abs(group.accuracy - complement.accuracy) : null;
    return { attribute, group, complement, gap };
  });

  let largestGap: SubgroupReport['largestGap'] = null;
  for (const row of rows) {
    if (row.gap === null || (largestGap && row.gap <= largestGap.gap)) continue;
    largestGap = { attribute: row.attribute, groupAccuracy: row.group.accuracy as number, complementAccuracy: row.complement.accuracy as number, gap: row.gap };
  }
  return { n, threshold, resamples, level, seed, rows, largestGap };
}

function groupAccuracy(
  indices: number[],
  labels: Labels,
  correct: Uint8Array,
  bootstrap: { resamples: number; level: number; random: SeededRandom },
): GroupAccuracy {
  const classN = [0, 0], classRight = [0, 0];
  for (const i of indices) {
    const y = labels[i] as 0 | 1;
    classN[y] = (classN[y] as number) + 1;
    classRight[y] = (classRight[y] as number) + (correct[i] as number);
  }
  const classAccuracy = (y: 0 | 1): ClassAccuracy => {
    const count = classN[y] as number;
    return { n: count, accuracy: count > 0 ? (classRight[y] as number) / count : null };
  };
  const perClass = { female: classAccuracy(0), male: classAccuracy(1) };
  const right = (classRight[0] as number) + (classRight[1] as number);
  if (indices.length === 0) return { n: 0, accuracy: null, lo: null, hi: null, errorRate: null, perClass };
  const m = indices.length;
  const outcome = Uint8Array.from(indices, (i) => correct[i] as number);
  const ci = bootstrapStatistic(
    m,
    (picked) => {
      let sum = 0;
      for (let k = 0; k < m; k++) sum += outcome[picked[k] as number] as number;
      return sum / m;
    },
    bootstrap,
  );
  const accuracy = right / m;
  return { n: m, accuracy, lo: ci.lo, hi: ci.hi, errorRate: 1 - accuracy, perClass };
}

/** Accuracy of the images with one value of a categorical column. */
export interface CategoryGroup extends GroupAccuracy {
  value: string;
}

export interface CategoryColumn {
  column: string;
  /** Images that have a value in this column (the others are left out of it). */
  n: number;
  /** One per value, in code-point order of the values. */
  groups: CategoryGroup[];
  /** Best and worst accuracy among the values; null when fewer than two values hold images. */
  best: { value: string; accuracy: number } | null;
  worst: { value: string; accuracy: number } | null;
  gap: number | null;
}

export interface CategoryReport {
  n: number;
  threshold: number;
  resamples: number;
  level: number;
  seed: number;
  columns: CategoryColumn[];
  /** The column whose best and worst values are furthest apart (first in column order on a tie). */
  largestGap: { column: string; best: { value: string; accuracy: number }; worst: { value: string; accuracy: number }; gap: number } | null;
}

/**
 * Accuracy per value of categorical columns (e.g. source → celeba-10k / mebeauty-2k, ethnicity →
 * asian / black / …), each with its bootstrap interval, and the gap between the best and the worst
 * value of each column. `rows[i][column]` is image i's value; an image without a value is left
 * out of that column. Each value's interval is drawn from its own stream keyed by (seed, column,
 * value), so it does not change when other columns or images of other values are added.
 */
export function categoryAccuracy(
  labels: Labels,
  probs: Probs,
  threshold: number,
  rows: ArrayLike<Readonly<Record<string, string | undefined>> | undefined>,
  columns: readonly string[],
  options: Omit<SubgroupOptions, 'attributes'> = {},
): CategoryReport {
  const n = checkScores(labels, probs);
  checkThreshold(threshold);
  const { resamples = 1000, seed = 1, level = 0.95 } = options;
  if (rows.length !== n) throw new UsageError(`groups: ${n} images but ${rows.length} group rows`);
  const correct = correctness(labels, probs, threshold);
  const out = columns.map((column): CategoryColumn => {
    const members = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const v = rows[i]?.[column];
      if (v === undefined) continue;
      const list = members.get(v);
      if (list) list.push(i);
      else members.set(v, [i]);
    }
    const groups = [...members.keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((value) => ({ value, ...groupAccuracy(members.get(value) as number[], labels, correct, { resamples, level, random: SeededRandom.keyed(seed, column, value) }) }));
    let best: CategoryColumn['best'] = null, worst: CategoryColumn['worst'] = null;
    for (const g of groups) {
      if (g.accuracy === null) continue;
      if (!best || g.accuracy > best.accuracy) best = { value: g.value, accuracy: g.accuracy };
      if (!worst || g.accuracy < worst.accuracy) worst = { value: g.value, accuracy: g.accuracy };
    }
    const defined = groups.filter((g) => g.accuracy !== null).length >= 2;
    return {
      column,
      n: groups.reduce((s, g) => s + g.n, 0),
      groups,
      best: defined ? best : null,
      worst: defined ? worst : null,
      gap: defined && best && worst ? best.accuracy - worst.accuracy : null,
    };
  });
  let largestGap: CategoryReport['largestGap'] = null;
  for (const c of out) {
    if (c.gap === null || !c.best || !c.worst || (largestGap && c.gap <= largestGap.gap)) continue;
    largestGap = { column: c.column, best: c.best, worst: c.worst, gap: c.gap };
  }
  return { n, threshold, resamples, level, seed, columns: out, largestGap };
}

function correctness(labels: Labels, probs: Probs, threshold: number): Uint8Array {
  const n = labels.length;
  const correct = new Uint8Array(n);
  for (let i = 0; i < n; i++) correct[i] = ((probs[i] as number) > threshold ? 1 : 0) === labels[i] ? 1 : 0;
  return correct;
}
