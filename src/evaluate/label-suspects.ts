import { UsageError } from '../errors.js';
import { certainty, predictedLabel } from './certainty.js';

export interface ScoredItem {
  path: string;
  /** 0 = Female, 1 = Male. */
  label: number;
  /** P(Male) from the model. */
  prob: number;
  identity?: string;
}

export interface ConfidentMistake {
  path: string;
  label: number;
  predicted: 0 | 1;
  prob: number;
  /** Probability the model gives to the class it predicts. */
  certainty: number;
  identity?: string;
}

/**
 * Images the model gets wrong with certainty ≥ minCertainty (certainty = prob when predicted Male,
 * 1 − prob when Female, as the study's make_prediction): at high certainty these are often label
 * errors rather than model errors. Most certain first, then by path.
 */
export function confidentlyWrong(items: readonly ScoredItem[], threshold: number, minCertainty = 0.95): ConfidentMistake[] {
  if (!(minCertainty >= 0 && minCertainty <= 1)) throw new UsageError(`minCertainty is ${minCertainty}, expected a number in [0, 1]`);
  const out: ConfidentMistake[] = [];
  for (const item of items) {
    if (item.label !== 0 && item.label !== 1) throw new UsageError(`label of ${item.path} is ${String(item.label)}, expected 0 or 1`);
    const predicted = predictedLabel(item.prob, threshold);
    if (predicted === item.label) continue;
    const c = certainty(item.prob, threshold);
    if (c < minCertainty) continue;
    const mistake: ConfidentMistake = { path: item.path, label: item.label, predicted, prob: item.prob, certainty: c };
    if (item.identity !== undefined) mistake.identity = item.identity;
    out.push(mistake);
  }
  return out.sort((a, b) => b.certainty - a.certainty || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface LabelledItem {
  path: string;
  label: number;
  identity?: string;
}

export interface IdentityConflict {
  path: string;
  label: number;
  identity: string;
  /** 'minority': the label disagrees with the strict majority of the identity's images; 'tie': the identity is split evenly. */
  kind: 'minority' | 'tie';
  /** [Female, Male] image counts of the identity. */
  identityCounts: [number, number];
}

export interface IdentityConflicts {
  /** Sorted by path. */
  minority: IdentityConflict[];
  /** Every image of an evenly split identity, sorted by path. */
  tie: IdentityConflict[];
  counts: {
    images: number;
    /** Images left out because they carry no identity. */
    withoutIdentity: number;
    identities: number;
    /** Identities whose images carry both labels. */
    mixedIdentities: number;
    minority: number;
    tie: number;
  };
}

/**
 * The same person should carry the same label on every image, so an image whose label
 * disagrees with the rest of its identity is a label-error suspect (CelebA's "Male" has roughly
 * 0.3–1% noise). Ties cannot say which side is wrong and are reported apart.
 */
export function identityMajorityConflicts(items: readonly LabelledItem[]): IdentityConflicts {
  const byIdentity = new Map<string, { counts: [number, number]; items: LabelledItem[] }>();
  let withoutIdentity = 0;
  for (const item of items) {
    if (item.label !== 0 && item.label !== 1) throw new UsageError(`label of ${item.path} is ${String(item.label)}, expected 0 or 1`);
    if (item.identity === undefined || item.identity === '') {
      withoutIdentity++;
      continue;
    }
    let entry = byIdentity.get(item.identity);
    if (!entry) byIdentity.set(item.identity, (entry = { counts: [0, 0], items: [] }));
    entry.counts[item.label]++;
    entry.items.push(item);
  }
  const minority: IdentityConflict[] = [], tie: IdentityConflict[] = [];
  let mixedIdentities = 0;
  for (const [identity, { counts, items: members }] of byIdentity) {
    const [female, male] = counts;
    if (female === 0 || male === 0) continue;
    mixedIdentities++;
    const majority = female === male ? null : female > male ? 0 : 1;
    for (const item of members) {
      if (majority !== null && item.label === majority) continue;
      const conflict: IdentityConflict = { path: item.path, label: item.label, identity, kind: majority === null ? 'tie' : 'minority', identityCounts: [female, male] };
      (majority === null ? tie : minority).push(conflict);
    }
  }
  const byPath = (a: IdentityConflict, b: IdentityConflict) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  minority.sort(byPath);
  tie.sort(byPath);
  return {
    minority,
    tie,
    counts: { images: items.length, withoutIdentity, identities: byIdentity.size, mixedIdentities, minority: minority.length, tie: tie.length },
  };
}
