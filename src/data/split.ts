import { SplitError } from '../errors.js';
import { SeededRandom } from '../util/random.js';
import type { Dataset, DatasetImage } from './dataset.js';

export const PARTS = ['train', 'val', 'test'] as const;
export type Part = (typeof PARTS)[number];

export interface SplitOptions {
  train: number;
  val: number;
  test: number;
  /** Equal class counts in every part (the study's split was balanced); otherwise stratified by class. */
  balanced: boolean;
  seed: number;
  /** Keep every identity inside one part. Default: on whenever the dataset has identities. */
  identityDisjoint?: boolean;
}

/** The study's 5000/750/750. */
export const STUDY_SPLIT_SIZES = { train: 5000, val: 750, test: 750 } as const;

export interface SplitImage {
  path: string;
  label: number;
  identity?: string;
  /** 0/1 per `Split.dataset.attributeNames`. */
  attributes?: number[];
  part: Part | 'unused';
}

export interface PartSummary {
  images: number;
  identities: number;
  perClass: number[];
}

export interface Split {
  format: 'facegender-split';
  version: 1;
  dataset: {
    root: string;
    layout: Dataset['layout'];
    classNames: string[];
    labelSource: string;
    attributeNames: string[];
    attributesFile?: string;
    identitiesFile?: string;
    listingHash: string;
    imageCount: number;
  };
  params: SplitOptions & { identityDisjoint: boolean };
  summary: Record<Part, PartSummary>;
  images: SplitImage[];
}

/** Per-class image counts each part must receive. */
function quotas(sizes: Record<Part, number>, classTotals: number[], balanced: boolean): Record<Part, number[]> {
  const k = classTotals.length;
  const total = classTotals.reduce((a, b) => a + b, 0);
  const out = {} as Record<Part, number[]>;
  for (const part of PARTS) {
    const n = sizes[part];
    if (!Number.isInteger(n) || n < 0) throw new SplitError(`${part} size must be a whole number ≥ 0, got ${n}`);
    if (balanced) {
      if (n % k !== 0) throw new SplitError(`a balanced ${part} part of ${n} images cannot hold ${k} equal classes`);
      out[part] = classTotals.map(() => n / k);
    } else {
      // Largest remainder keeps the part's size exact while matching the class proportions.
      const exact = classTotals.map((c) => (n * c) / total);
      const counts = exact.map(Math.floor);
      const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      for (let r = n - counts.reduce((a, b) => a + b, 0), j = 0; r > 0; r--, j++) {
        const idx = order[j % k]?.[1] as number;
        counts[idx] = (counts[idx] ?? 0) + 1;
      }
      out[part] = counts;
    }
  }
  return out;
}

interface Group {
  key: string;
  byClass: DatasetImage[][];
}

/**
 * Splits a dataset into train, validation and test parts, stratified (or balanced) by class and,
 * when identities are known, identity-disjoint: an identity's images all land in one part, and
 * those its part has no room for stay unused rather than leak into another part.
 */
export function makeSplit(dataset: Dataset, options: SplitOptions): Split {
  const hasIdentities = dataset.images.some((im) => im.identity !== undefined);
  const identityDisjoint = options.identityDisjoint ?? hasIdentities;
  if (identityDisjoint && !hasIdentities) {
    throw new SplitError('an identity-disjoint split needs an identity file (--identities)');
  }
  const k = dataset.classNames.length;
  const classTotals = dataset.classNames.map(() => 0);
  for (const im of dataset.images) classTotals[im.label] = (classTotals[im.label] ?? 0) + 1;
  const sizes = { train: options.train, val: options.val, test: options.test };
  const quota = quotas(sizes, classTotals, options.balanced);

  for (let c = 0; c < k; c++) {
    const need = PARTS.reduce((s, p) => s + (quota[p][c] ?? 0), 0);
    if (need > (classTotals[c] ?? 0)) {
      throw new SplitError(
        `the split asks for ${need} ${dataset.classNames[c]} images (${PARTS.map((p) => `${quota[p][c]} ${p}`).join(' + ')}) ` +
          `but the dataset has ${classTotals[c]}`,
        dataset.root,
      );
    }
  }

  const groupMap = new Map<string, Group>();
  for (const im of dataset.images) {
    const key = identityDisjoint ? `id:${im.identity}` : `im:${im.path}`;
    let group = groupMap.get(key);
    if (!group) {
      group = { key, byClass: Array.from({ length: k }, () => []) };
      groupMap.set(key, group);
    }
    group.byClass[im.label]?.push(im);
  }
  const rng = new SeededRandom(options.seed);
  // Sorted first so the order (and so the split) depends on the seed alone, not on listing order.
  const groups = rng.shuffle([...groupMap.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  for (const g of groups) for (const list of g.byClass) rng.shuffle(list);

  const assigned = new Map<DatasetImage, Part>();
  const owner = new Map<Group, Part>();
  // Smaller parts first: they must come out exact, and train has the most room to absorb what remains.
  const order = [...PARTS].sort((a, b) => sizes[a] - sizes[b] || PARTS.indexOf(a) - PARTS.indexOf(b));
  for (const part of order) {
    const remaining = [...quota[part]];
    const take = (g: Group) => {
      owner.set(g, part);
      g.byClass.forEach((list, c) => {
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
      const fits = g.byClass.every((list, c) => list.length <= (remaining[c] ?? 0));
      const useful = g.byClass.some((list, c) => list.length > 0 && (remaining[c] ?? 0) > 0);
      if (fits && useful) take(g);
    }
    for (const g of groups) {
      if (!unmet()) break;
      if (owner.has(g)) continue;
      if (g.byClass.some((list, c) => list.length > 0 && (remaining[c] ?? 0) > 0)) take(g);
    }
    if (unmet()) {
      const shortClass = remaining.findIndex((r) => r > 0);
      const got = (quota[part][shortClass] ?? 0) - (remaining[shortClass] ?? 0);
      throw new SplitError(
        `cannot fill the ${part} part: it needs ${quota[part][shortClass]} ${dataset.classNames[shortClass]} images and only ${got} ` +
          `could be found after keeping identities disjoint (${classTotals[shortClass]} ${dataset.classNames[shortClass]} images in all, ` +
          `the rest held by the identities of other parts)`,
        dataset.root,
      );
    }
  }

  const summary = {} as Record<Part, PartSummary>;
  for (const part of PARTS) summary[part] = { images: 0, identities: 0, perClass: dataset.classNames.map(() => 0) };
  const identitySets = Object.fromEntries(PARTS.map((p) => [p, new Set<string>()])) as Record<Part, Set<string>>;
  const images: SplitImage[] = dataset.images.map((im) => {
    const part = assigned.get(im) ?? 'unused';
    const out: SplitImage = { path: im.path, label: im.label, part };
    if (im.identity !== undefined) out.identity = im.identity;
    if (im.attributes) out.attributes = Array.from(im.attributes, (v) => (v === 1 ? 1 : 0));
    if (part !== 'unused') {
      const s = summary[part];
      s.images++;
      s.perClass[im.label] = (s.perClass[im.label] ?? 0) + 1;
      identitySets[part].add(im.identity ?? im.path);
    }
    return out;
  });
  for (const part of PARTS) summary[part].identities = identitySets[part].size;

  const datasetInfo: Split['dataset'] = {
    root: dataset.root,
    layout: dataset.layout,
    classNames: dataset.classNames,
    labelSource: dataset.labelSource,
    attributeNames: dataset.attributeNames,
    listingHash: dataset.listingHash,
    imageCount: dataset.images.length,
  };
  if (dataset.attributesFile) datasetInfo.attributesFile = dataset.attributesFile;
  if (dataset.identitiesFile) datasetInfo.identitiesFile = dataset.identitiesFile;
  return {
    format: 'facegender-split',
    version: 1,
    dataset: datasetInfo,
    params: { ...options, identityDisjoint },
    summary,
    images,
  };
}

/** Images of one part, in split-file order. */
export function splitPart(split: Split, part: Part): SplitImage[] {
  return split.images.filter((im) => im.part === part);
}
