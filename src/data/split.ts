import { SplitError } from '../errors.js';
import { SeededRandom } from '../util/random.js';
import { datasetImageFile, datasetName, datasetRecord, type Dataset, type DatasetImage, type DatasetRecord, type DatasetSource } from './dataset.js';

export const PARTS = ['train', 'val', 'test'] as const;
export type Part = (typeof PARTS)[number];

/** What one source of a dataset with several may set for itself; the rest comes from the split's options. */
export interface SourceSplitOptions {
  train?: number;
  val?: number;
  test?: number;
  balanced?: boolean;
  /** Stratify this source by class x this group column (e.g. ethnicity). */
  stratify?: string;
  identityDisjoint?: boolean;
}

export interface SplitOptions {
  train: number;
  val: number;
  test: number;
  /** Equal class counts in every part (the study's split was balanced); otherwise stratified by class. */
  balanced: boolean;
  seed: number;
  /** Keep every identity inside one part. Default: on whenever the dataset has identities. */
  identityDisjoint?: boolean;
  /**
   * Also stratify by a group column: each part's class quota is shared among the column's values
   * in the proportions the class has them, so every group keeps its share in every part.
   */
  stratify?: string;
  /**
   * A dataset of several sources is split source by source: each source's parts get the sizes
   * (and balance, stratification) given here under its name, or else the options above.
   */
  sources?: Record<string, SourceSplitOptions>;
}

/** The study's 5000/750/750. */
export const STUDY_SPLIT_SIZES = { train: 5000, val: 750, test: 750 } as const;

export interface SplitImage {
  /** Relative to the dataset root; with several sources, `<source>/<path inside the source>`. */
  path: string;
  label: number;
  identity?: string;
  /** 0/1 per `Split.dataset.attributeNames`. */
  attributes?: number[];
  /** Group column → value (e.g. ethnicity → asian). */
  groups?: Record<string, string>;
  /** The source's name, with several sources. */
  source?: string;
  part: Part | 'unused';
}

export interface PartSummary {
  images: number;
  identities: number;
  perClass: number[];
  /** With stratification: per value of the stratifying column, the images per class. */
  perGroup?: Record<string, number[]>;
}

/** How one source was split. */
export interface SourceParams {
  train: number;
  val: number;
  test: number;
  balanced: boolean;
  identityDisjoint: boolean;
  stratify?: string;
}

/** One source of a split made from several folders: where it lives, and how it was split. */
export interface SplitSource extends DatasetSource {
  params: SourceParams;
  summary: Record<Part, PartSummary>;
}

export interface Split {
  format: 'facegender-split';
  /** 1: one dataset folder; 2: several (`sources`). */
  version: 1 | 2;
  /** With several sources, `root` is the folder that holds them (images resolve through `sources`). */
  dataset: DatasetRecord;
  /** Several dataset folders (version 2). */
  sources?: SplitSource[];
  /** With several sources: train/val/test are the totals, and `sources` what each got. */
  params: SplitOptions & { identityDisjoint: boolean };
  summary: Record<Part, PartSummary>;
  images: SplitImage[];
}

/** Whole-number shares of n proportional to weights, summing to n exactly (largest remainder; ties to the lower index). */
function largestRemainder(n: number, weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) return weights.map(() => 0);
  const exact = weights.map((w) => (n * w) / total);
  const counts = exact.map(Math.floor);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let r = n - counts.reduce((a, b) => a + b, 0), j = 0; r > 0; r--, j++) {
    const idx = order[j % weights.length]?.[1] as number;
    counts[idx] = (counts[idx] ?? 0) + 1;
  }
  return counts;
}

/** Per-class image counts each part must receive. */
function quotas(sizes: Record<Part, number>, classTotals: number[], balanced: boolean): Record<Part, number[]> {
  const k = classTotals.length;
  const out = {} as Record<Part, number[]>;
  for (const part of PARTS) {
    const n = sizes[part];
    if (!Number.isInteger(n) || n < 0) throw new SplitError(`${part} size must be a whole number ≥ 0, got ${n}`);
    if (balanced) {
      if (n % k !== 0) throw new SplitError(`a balanced ${part} part of ${n} images cannot hold ${k} equal classes`);
      out[part] = classTotals.map(() => n / k);
    } else {
      // Largest remainder keeps the part's size exact while matching the class proportions.
      out[part] = largestRemainder(n, classTotals);
    }
  }
  return out;
}

interface Group {
  key: string;
  byStratum: DatasetImage[][];
}

/** Strata: the classes, or class x value of a group column. */
interface Strata {
  count: number;
  of: (im: DatasetImage) => number;
  name: (s: number) => string;
  classOf: (s: number) => number;
  values: string[];
}

function strataOf(images: readonly DatasetImage[], classNames: readonly string[], column: string | undefined, where: string): Strata {
  const k = classNames.length;
  if (!column) return { count: k, of: (im) => im.label, name: (s) => classNames[s] as string, classOf: (s) => s, values: [] };
  const missing = images.filter((im) => im.groups?.[column] === undefined);
  if (missing.length > 0) {
    throw new SplitError(
      `cannot stratify by ${column}: ${missing.length} of ${images.length} images have no ${column} value, e.g. ${missing.slice(0, 3).map((m) => m.path).join(', ')}`,
      where,
    );
  }
  const values = [...new Set(images.map((im) => im.groups?.[column] as string))].sort();
  const index = new Map(values.map((v, i) => [v, i]));
  const g = values.length;
  return {
    count: k * g,
    of: (im) => im.label * g + (index.get(im.groups?.[column] as string) as number),
    name: (s) => `${classNames[Math.floor(s / g)]} ${column}=${values[s % g]}`,
    classOf: (s) => Math.floor(s / g),
    values,
  };
}

interface PartRequest {
  sizes: Record<Part, number>;
  balanced: boolean;
  identityDisjoint: boolean;
  stratify?: string;
}

/**
 * Assigns images to parts, stratified (or balanced) by class, optionally by class x group, and
 * identity-disjoint when asked: an identity's images all land in one part, and those its part has
 * no room for stay unused rather than leak into another part.
 */
function assignParts(images: readonly DatasetImage[], classNames: readonly string[], request: PartRequest, rng: SeededRandom, where: string): Map<DatasetImage, Part> {
  const { sizes, identityDisjoint } = request;
  const k = classNames.length;
  const classTotals = classNames.map(() => 0);
  for (const im of images) classTotals[im.label] = (classTotals[im.label] ?? 0) + 1;
  const classQuota = quotas(sizes, classTotals, request.balanced);
  for (let c = 0; c < k; c++) {
    const need = PARTS.reduce((s, p) => s + (classQuota[p][c] ?? 0), 0);
    if (need > (classTotals[c] ?? 0)) {
      throw new SplitError(
        `the split asks for ${need} ${classNames[c]} images (${PARTS.map((p) => `${classQuota[p][c]} ${p}`).join(' + ')}) ` +
          `but the dataset has ${classTotals[c]}`,
        where,
      );
    }
  }
  const strata = strataOf(images, classNames, request.stratify, where);
  const stratumTotals = Array.from({ length: strata.count }, () => 0);
  for (const im of images) stratumTotals[strata.of(im)] = (stratumTotals[strata.of(im)] ?? 0) + 1;
  const quota = {} as Record<Part, number[]>;
  for (const part of PARTS) {
    if (!request.stratify) {
      quota[part] = classQuota[part];
      continue;
    }
    // Each class's quota is shared among the column's values in the proportions the class has them.
    const g = strata.values.length;
    quota[part] = classNames.flatMap((_, c) => largestRemainder(classQuota[part][c] ?? 0, stratumTotals.slice(c * g, (c + 1) * g)));
  }
  for (let s = 0; s < strata.count; s++) {
    const need = PARTS.reduce((sum, p) => sum + (quota[p][s] ?? 0), 0);
    if (need > (stratumTotals[s] ?? 0)) {
      throw new SplitError(
        `the split asks for ${need} ${strata.name(s)} images (${PARTS.map((p) => `${quota[p][s]} ${p}`).join(' + ')}) but the dataset has ${stratumTotals[s]}`,
        where,
      );
    }
  }

  const groupMap = new Map<string, Group>();
  for (const im of images) {
    const key = identityDisjoint ? `id:${im.identity}` : `im:${im.path}`;
    let group = groupMap.get(key);
    if (!group) {
      group = { key, byStratum: Array.from({ length: strata.count }, () => []) };
      groupMap.set(key, group);
    }
    group.byStratum[strata.of(im)]?.push(im);
  }
  // Sorted first so the order (and so the split) depends on the seed alone, not on listing order.
  const groups = rng.shuffle([...groupMap.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  for (const g of groups) for (const list of g.byStratum) rng.shuffle(list);

  const assigned = new Map<DatasetImage, Part>();
  const owner = new Map<Group, Part>();
  // Smaller parts first: they must come out exact, and train has the most room to absorb what remains.
  const order = [...PARTS].sort((a, b) => sizes[a] - sizes[b] || PARTS.indexOf(a) - PARTS.indexOf(b));
  for (const part of order) {
    const remaining = [...quota[part]];
    const take = (g: Group) => {
      owner.set(g, part);
      g.byStratum.forEach((list, c) => {
        const n = Math.min(list.length, remaining[c] ?? 0);
        for (const im of list.slice(0, n)) assigned.set(im, part);
        remaining[c] = (remaining[c] ?? 0) - n;
      });
    };
    const unmet = () => remaining.some((r) => r > 0);
    // Whole identities first, so few images are left unused; then identities that fit only in part.
    for (const g of groups) {
      if (!unmet()) break;
      if (owner.has(g)) continue;
      const fits = g.byStratum.every((list, c) => list.length <= (remaining[c] ?? 0));
      const useful = g.byStratum.some((list, c) => list.length > 0 && (remaining[c] ?? 0) > 0);
      if (fits && useful) take(g);
    }
    for (const g of groups) {
      if (!unmet()) break;
      if (owner.has(g)) continue;
      if (g.byStratum.some((list, c) => list.length > 0 && (remaining[c] ?? 0) > 0)) take(g);
    }
    if (unmet()) {
      const short = remaining.findIndex((r) => r > 0);
      const got = (quota[part][short] ?? 0) - (remaining[short] ?? 0);
      const what = strata.name(short);
      throw new SplitError(
        `cannot fill the ${part} part: it needs ${quota[part][short]} ${what} images and only ${got} ` +
          `could be found after keeping identities disjoint (${stratumTotals[short]} ${what} images in all, ` +
          `the rest held by the identities of other parts)`,
        where,
      );
    }
  }
  return assigned;
}

function summarise(images: readonly SplitImage[], classNames: readonly string[], stratify: string | undefined): Record<Part, PartSummary> {
  const summary = {} as Record<Part, PartSummary>;
  for (const part of PARTS) summary[part] = { images: 0, identities: 0, perClass: classNames.map(() => 0), ...(stratify ? { perGroup: {} } : {}) };
  const identitySets = Object.fromEntries(PARTS.map((p) => [p, new Set<string>()])) as Record<Part, Set<string>>;
  for (const im of images) {
    if (im.part === 'unused') continue;
    const s = summary[im.part];
    s.images++;
    s.perClass[im.label] = (s.perClass[im.label] ?? 0) + 1;
    identitySets[im.part].add(im.identity ?? im.path);
    if (stratify && s.perGroup) {
      const value = im.groups?.[stratify] as string;
      const counts = (s.perGroup[value] ??= classNames.map(() => 0));
      counts[im.label] = (counts[im.label] ?? 0) + 1;
    }
  }
  for (const part of PARTS) {
    summary[part].identities = identitySets[part].size;
    const perGroup = summary[part].perGroup;
    if (perGroup) summary[part].perGroup = Object.fromEntries(Object.entries(perGroup).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return summary;
}

function toSplitImage(im: DatasetImage, part: Part | 'unused'): SplitImage {
  const out: SplitImage = { path: im.path, label: im.label, part };
  if (im.identity !== undefined) out.identity = im.identity;
  if (im.attributes) out.attributes = Array.from(im.attributes, (v) => (v === 1 ? 1 : 0));
  if (im.groups) out.groups = im.groups;
  if (im.source !== undefined) out.source = im.source;
  return out;
}

/** The request for one set of images: its own options over the split's. */
function requestFor(options: SplitOptions, own: SourceSplitOptions, hasIdentities: boolean, where: string | undefined): PartRequest & { identityDisjoint: boolean } {
  const identityDisjoint = own.identityDisjoint ?? options.identityDisjoint ?? hasIdentities;
  if (identityDisjoint && !hasIdentities) throw new SplitError('an identity-disjoint split needs an identity file (--identities)', where);
  const stratify = own.stratify ?? options.stratify;
  return {
    sizes: { train: own.train ?? options.train, val: own.val ?? options.val, test: own.test ?? options.test },
    balanced: own.balanced ?? options.balanced,
    identityDisjoint,
    ...(stratify ? { stratify } : {}),
  };
}

/**
 * Splits a dataset into train, validation and test parts, stratified (or balanced) by class (and
 * by class x a group column with `stratify`) and, when identities are known, identity-disjoint:
 * an identity's images all land in one part, and those its part has no room for stay unused
 * rather than leak into another part. A dataset of several sources is split source by source,
 * each with its own sizes (`options.sources`), so every source's parts come out exact, and each
 * source gets the parts a split of its folder alone with the same options and seed would give.
 */
export function makeSplit(dataset: Dataset, options: SplitOptions): Split {
  if (dataset.sources) return makeSourcesSplit(dataset, dataset.sources, options);
  if (options.sources && Object.keys(options.sources).length > 0) {
    throw new SplitError(`per-source options (${Object.keys(options.sources).join(', ')}) need a dataset of several sources`, dataset.root);
  }
  const hasIdentities = dataset.images.some((im) => im.identity !== undefined);
  const request = requestFor(options, {}, hasIdentities, undefined);
  const assigned = assignParts(dataset.images, dataset.classNames, request, new SeededRandom(options.seed), dataset.root);
  const images = dataset.images.map((im) => toSplitImage(im, assigned.get(im) ?? 'unused'));

  return {
    format: 'facegender-split',
    version: 1,
    dataset: datasetRecord(dataset),
    params: { ...options, identityDisjoint: request.identityDisjoint },
    summary: summarise(images, dataset.classNames, request.stratify),
    images,
  };
}

function makeSourcesSplit(dataset: Dataset, sources: readonly DatasetSource[], options: SplitOptions): Split {
  const names = new Set(sources.map((s) => s.name));
  for (const name of Object.keys(options.sources ?? {})) {
    if (!names.has(name)) throw new SplitError(`options are given for source "${name}", which the dataset does not have (${[...names].join(', ')})`, dataset.root);
  }
  const assigned = new Map<DatasetImage, Part>();
  const requests = sources.map((source) => {
    const own = dataset.images.filter((im) => im.source === source.name);
    const request = requestFor(options, options.sources?.[source.name] ?? {}, own.some((im) => im.identity !== undefined), source.root);
    // Each source draws from a fresh stream of the seed: its parts are those a split of that folder alone would get.
    const parts = assignParts(own, dataset.classNames, request, new SeededRandom(options.seed), source.root);
    for (const [im, part] of parts) assigned.set(im, part);
    return request;
  });
  const images = dataset.images.map((im) => toSplitImage(im, assigned.get(im) ?? 'unused'));
  const splitSources: SplitSource[] = sources.map((source, i) => {
    const r = requests[i] as PartRequest;
    const params: SourceParams = { ...r.sizes, balanced: r.balanced, identityDisjoint: r.identityDisjoint, ...(r.stratify ? { stratify: r.stratify } : {}) };
    return { ...source, params, summary: summarise(images.filter((im) => im.source === source.name), dataset.classNames, r.stratify) };
  });
  const total = (part: Part) => requests.reduce((s, r) => s + r.sizes[part], 0);
  const { stratify: _stratify, sources: _own, ...shared } = options;
  return {
    format: 'facegender-split',
    version: 2,
    dataset: datasetRecord(dataset),
    sources: splitSources,
    params: {
      ...shared,
      train: total('train'),
      val: total('val'),
      test: total('test'),
      balanced: requests.every((r) => r.balanced),
      identityDisjoint: requests.every((r) => r.identityDisjoint),
      sources: Object.fromEntries(splitSources.map((s) => [s.name, s.params])),
    },
    summary: summarise(images, dataset.classNames, undefined),
    images,
  };
}

/** Images of one part, in split-file order. */
export function splitPart(split: Split, part: Part): SplitImage[] {
  return split.images.filter((im) => im.part === part);
}

/** Where a split's image is on disk (its source's folder, with several sources). */
export function splitImageFile(split: Pick<Split, 'dataset' | 'sources'>, image: Pick<SplitImage, 'path' | 'source'>): string {
  return datasetImageFile({ root: split.dataset.root, ...(split.sources ? { sources: split.sources } : {}) }, image);
}

/** A short name for a split's data: the dataset folder's name, or its sources' names joined. */
export function splitDatasetName(split: Pick<Split, 'dataset' | 'sources'>): string {
  return datasetName({ root: split.dataset.root, ...(split.sources ? { sources: split.sources } : {}) });
}
