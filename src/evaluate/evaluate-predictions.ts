import type { SplitImage } from '../data/split.js';
import { bootstrapCI, type BootstrapCI } from './bootstrap.js';
import { certainty, predictedLabel } from './certainty.js';
import { confidentlyWrong, identityMajorityConflicts, type ConfidentMistake, type IdentityConflicts } from './label-suspects.js';
import { binaryMetrics, reliabilityBins, rocCurve, type BinaryMetrics, type ReliabilityBin, type RocPoint } from './metrics.js';
import { categoryAccuracy, DEFAULT_SUBGROUP_ATTRIBUTES, subgroupAccuracy, type CategoryReport, type SubgroupReport } from './subgroups.js';
import { chooseThreshold, sweepThresholds, type SweepRow, type ThresholdChoice } from './threshold-sweep.js';

export interface EvaluateOptions {
  /** 'study' (default), 'max-f1', 'youden' or 'fixed:X'. */
  thresholdRule?: string;
  resamples?: number;
  seed?: number;
  subgroupAttributes?: readonly string[];
  /** Certainty from which a wrong prediction is listed as a likely label error. Default 0.95. */
  minCertainty?: number;
}

export interface Prediction {
  path: string;
  label: number;
  prob: number;
  predicted: 0 | 1;
  certainty: number;
  identity?: string;
  /** The image's source, in a split of several folders. */
  source?: string;
  groups?: Record<string, string>;
}

export interface Evaluation {
  classNames: string[];
  threshold: number;
  choice: ThresholdChoice;
  sweep: SweepRow[];
  val: BinaryMetrics;
  test: BinaryMetrics;
  ci: BootstrapCI;
  roc: RocPoint[] | null;
  reliability: ReliabilityBin[];
  /** Attribute subgroups, on the test images that have attributes. */
  subgroups: SubgroupReport | null;
  /** Accuracy per source (with several) and per value of each group column (e.g. ethnicity); null when the split has neither. */
  groups: CategoryReport | null;
  /** Test predictions in split order. */
  predictions: Prediction[];
  suspects: {
    minCertainty: number;
    /** Validation and test images wrong with certainty ≥ minCertainty. */
    confidentlyWrong: Array<ConfidentMistake & { part: 'val' | 'test' }>;
    /** Images of the whole split whose label disagrees with their identity's majority. */
    identityConflicts: IdentityConflicts | null;
  };
}

export interface ScoredPart {
  images: SplitImage[];
  probs: Float32Array;
}

/**
 * The study's section 4, and more: the threshold sweep on validation and the chosen threshold,
 * then test metrics with bootstrap intervals, ROC, calibration, subgroup accuracy, and the
 * images most likely to be mislabelled.
 */
export function evaluatePredictions(
  split: { classNames: string[]; attributeNames: string[]; groupColumns?: readonly string[]; images: SplitImage[] },
  val: ScoredPart,
  test: ScoredPart,
  options: EvaluateOptions = {},
): Evaluation {
  const seed = options.seed ?? 1;
  const resamples = options.resamples ?? 1000;
  const minCertainty = options.minCertainty ?? 0.95;
  const valLabels = Uint8Array.from(val.images, (im) => im.label);
  const testLabels = Uint8Array.from(test.images, (im) => im.label);
  const sweep = sweepThresholds(valLabels, val.probs);
  // With several sources, each source's classes weigh alike, so the threshold serves them all rather than the largest.
  const sources = new Set(val.images.map((im) => im.source));
  const rule = options.thresholdRule ?? (sources.size > 1 ? 'balanced' : 'study');
  const cells = val.images.map((im) => `${im.source ?? ''}\u0000${im.label}`);
  const choice = chooseThreshold(sweep, valLabels, val.probs, rule, cells);
  const threshold = choice.threshold;

  let subgroups: SubgroupReport | null = null;
  const wanted = (options.subgroupAttributes ?? DEFAULT_SUBGROUP_ATTRIBUTES).filter((a) => split.attributeNames.includes(a));
  // With several sources, only some images carry attributes: the subgroups are theirs.
  const withAttributes = test.images.flatMap((im, i) => (im.attributes ? [i] : []));
  if (wanted.length > 0 && withAttributes.length > 0) {
    subgroups = subgroupAccuracy(
      Uint8Array.from(withAttributes, (i) => testLabels[i] as number),
      Float32Array.from(withAttributes, (i) => test.probs[i] as number),
      threshold,
      withAttributes.map((i) => test.images[i]?.attributes as number[]),
      split.attributeNames,
      { attributes: wanted, resamples, seed },
    );
  }
  const groupColumns = [...(test.images.some((im) => im.source !== undefined) ? ['source'] : []), ...(split.groupColumns ?? [])];
  const groups =
    groupColumns.length > 0 && test.images.length > 0
      ? categoryAccuracy(testLabels, test.probs, threshold, test.images.map((im) => ({ ...im.groups, ...(im.source !== undefined ? { source: im.source } : {}) })), groupColumns, { resamples, seed })
      : null;

  const scored = (part: ScoredPart) =>
    part.images.map((im, i) => ({
      path: im.path,
      label: im.label,
      prob: part.probs[i] as number,
      ...(im.identity !== undefined ? { identity: im.identity } : {}),
      ...(im.source !== undefined ? { source: im.source } : {}),
      ...(im.groups ? { groups: im.groups } : {}),
    }));
  const wrong = [
    ...confidentlyWrong(scored(val), threshold, minCertainty).map((m) => ({ ...m, part: 'val' as const })),
    ...confidentlyWrong(scored(test), threshold, minCertainty).map((m) => ({ ...m, part: 'test' as const })),
  ].sort((a, b) => b.certainty - a.certainty);
  const withIdentity = split.images.filter((im) => im.identity !== undefined);

  return {
    classNames: split.classNames,
    threshold,
    choice,
    sweep,
    val: binaryMetrics(valLabels, val.probs, threshold),
    test: binaryMetrics(testLabels, test.probs, threshold),
    ci: bootstrapCI(testLabels, test.probs, threshold, { resamples, seed }),
    roc: rocCurve(testLabels, test.probs),
    reliability: reliabilityBins(testLabels, test.probs),
    subgroups,
    groups,
    predictions: scored(test).map((p) => ({ ...p, predicted: predictedLabel(p.prob, threshold), certainty: certainty(p.prob, threshold) })),
    suspects: {
      minCertainty,
      confidentlyWrong: wrong,
      identityConflicts: withIdentity.length > 0 ? identityMajorityConflicts(withIdentity.map((im) => ({ path: im.path, label: im.label, identity: im.identity as string }))) : null,
    },
  };
}
