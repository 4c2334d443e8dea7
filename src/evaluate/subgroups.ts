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
  const correct = new Uint8Array(n);
  for (let i = 0; i < n; i++) correct[i] = ((probs[i] as number) > threshold ? 1 : 0) === labels[i] ? 1 : 0;

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
