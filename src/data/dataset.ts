import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { readAttributeFile, type AttributeTable } from './attributes.js';
import { readIdentityFile } from './identities.js';
import { walkFiles } from './list-images.js';
import { pathKey, readLabelTable, rowLabel, type LabelTable } from './label-table.js';
import { IMAGE_EXTENSIONS, describeNonImage, sniffImageFormat } from './sniff.js';
import { mapLimited } from '../util/map-limited.js';

export interface DatasetImage {
  /**
   * Path relative to the dataset root, with forward slashes. In a dataset of several sources,
   * `<source name>/<path inside the source>`: unique across sources (see {@link datasetImageFile}).
   */
  path: string;
  label: number;
  identity?: string;
  /** 1/-1 per `Dataset.attributeNames`, when the attribute file lists this image. */
  attributes?: Int8Array;
  /** Group column → value (e.g. ethnicity → asian), from a groups or labels CSV. */
  groups?: Record<string, string>;
  /** The source the image comes from, in a dataset of several sources. */
  source?: string;
  bytes: number;
}

export interface BadImage {
  path: string;
  reason: string;
}

/** What a split file records of a dataset: where it is, how it is labelled, and a hash of its listing. */
export interface DatasetRecord {
  root: string;
  layout: Dataset['layout'];
  classNames: string[];
  labelSource: string;
  attributeNames: string[];
  /** Absent when the dataset has no group columns. */
  groupColumns?: string[];
  listingHash: string;
  imageCount: number;
  attributesFile?: string;
  identitiesFile?: string;
  groupsFile?: string;
  /** Faces are found and aligned before training (ScanOptions.align). */
  align?: true;
  /** The list of images left out (ScanOptions.exclude), and how many it named. */
  excludeFile?: string;
  excluded?: number;
}

/** One folder of a dataset made of several (`scanDataset([...])`). */
export interface DatasetSource extends DatasetRecord {
  /** Short unique name (by default the folder's name); image paths of this source start with it. */
  name: string;
}

export interface Dataset {
  /** The dataset folder; for several sources, the folder that holds them all (for display: images resolve through `sources`). */
  root: string;
  /**
   * `class-folders`: labels from sub-folder names (Keras flow_from_directory); `attribute`: a flat
   * folder labelled by one attribute; `csv`: labelled by a CSV; `sources`: several folders.
   */
  layout: 'class-folders' | 'attribute' | 'csv' | 'sources';
  classNames: string[];
  /** Where labels come from, in words. */
  labelSource: string;
  images: DatasetImage[];
  attributeNames: string[];
  attributesFile?: string;
  identitiesFile?: string;
  /** Categorical columns images may carry in `groups` (from a groups or labels CSV). */
  groupColumns: string[];
  groupsFile?: string;
  /** Images the groups CSV does not list: they carry no groups. */
  ungrouped: number;
  /** The folders of a dataset made of several; absent for one folder. */
  sources?: DatasetSource[];
  /** Files without an image extension, skipped. */
  nonImageFiles: number;
  /** Files with an image extension whose bytes are not an image. */
  badImages: BadImage[];
  /** Images of an attribute- or CSV-labelled folder that the attribute file or CSV does not list. */
  unlabelled: number;
  /** Images that carry attributes whose label attribute disagrees with their folder. */
  labelConflicts: number;
  /** sha256 of the image listing (path and size), to notice a folder changed since a split was made. */
  listingHash: string;
  /** Faces are found and aligned before training (ScanOptions.align). */
  align?: true;
  /** The list of images left out (ScanOptions.exclude), and how many it named. */
  excludeFile?: string;
  excluded?: number;
}

export interface ScanOptions {
  /** A list_attr_celeba.txt-format file: labels a flat folder and adds attributes for subgroup analysis. */
  attributes?: string;
  /** The attribute that labels a flat folder (1 → positive class). Default `Male`. */
  attribute?: string;
  /** An identity_CelebA.txt-format file, for identity-disjoint splits. */
  identities?: string;
  /** Exclude unreadable images and list them instead of failing. */
  skipBad?: boolean;
  /**
   * A CSV `file,label[,column…]` (file relative to the folder) that labels the images: only the
   * files it lists are used, and its other columns are groups. Overrides class folders.
   */
  labels?: string;
  /** Class names a labels CSV is read with (default: its distinct labels in code-point order, as class folders). */
  classNames?: string[];
  /**
   * A CSV `file[,label],column…` of categorical groups per image (e.g. ethnicity). Default: the
   * folder's own `groups.csv` when it has one; `false`: none.
   */
  groups?: string | false;
  /**
   * The images are not framed as CelebA's aligned faces (other crops, ordinary photos): training
   * finds and aligns each face first, as predict does, so the model learns what it will be shown.
   */
  align?: boolean;
  /**
   * A CSV `file[,column…]` of images to leave out, as if they were not in the folder (e.g. crops
   * that hold no face); its other columns (a reason) are notes. Each row must name an image of
   * the folder, once.
   */
  exclude?: string;
}

/** A folder of a dataset made of several, with its own options. */
export interface SourceSpec extends ScanOptions {
  root: string;
  /** Default: the folder's name. */
  name?: string;
}

/** The groups CSV a folder carries by itself, used unless the caller says otherwise. */
export const GROUPS_FILE = 'groups.csv';

interface ListedFile {
  rel: string;
  abs: string;
  bytes: number;
}

const toPosix = (p: string) => p.split(path.sep).join('/');
/** Python's sorted() order, which Keras uses for class indices: by code point, not locale. */
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function listImageFiles(root: string, dir: string): Promise<{ files: ListedFile[]; nonImage: number }> {
  const files: ListedFile[] = [];
  let nonImage = 0;
  for (const abs of await walkFiles(dir)) {
    if (!IMAGE_EXTENSIONS.has(path.extname(abs).toLowerCase())) {
      nonImage++;
      continue;
    }
    files.push({ rel: toPosix(path.relative(root, abs)), abs, bytes: 0 });
  }
  await Promise.all(
    files.map(async (f) => {
      f.bytes = (await stat(f.abs)).size;
    }),
  );
  return { files, nonImage };
}

async function sniffFile(file: ListedFile): Promise<string | undefined> {
  if (file.bytes === 0) return describeNonImage(new Uint8Array(), 0);
  const handle = await open(file.abs, 'r');
  try {
    const head = new Uint8Array(16);
    const { bytesRead } = await handle.read(head, 0, 16, 0);
    const bytes = head.subarray(0, bytesRead);
    return sniffImageFormat(bytes) ? undefined : describeNonImage(bytes, file.bytes);
  } finally {
    await handle.close();
  }
}

export function hashListing(files: Array<{ rel: string; bytes: number }>): string {
  const lines = files.map((f) => `${f.rel}\t${f.bytes}`).sort(byCodePoint);
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

/** Hash of what is in `root` now, as `Dataset.listingHash` computes it. */
export async function currentListingHash(root: string): Promise<string> {
  return hashListing((await listImageFiles(root, root)).files);
}

/**
 * Lists a dataset: class sub-folders (class index = alphabetical folder order, so `female` = 0
 * and `male` = 1), a flat folder labelled by one attribute of a CelebA attribute file, or a
 * folder labelled by a CSV (`labels`). A groups CSV (the folder's own `groups.csv` unless told
 * otherwise) adds categorical columns per image.
 *
 * Given several folders (`SourceSpec`s, each with its own options), lists each and joins them:
 * every image keeps its source's name, and its path starts with it.
 */
export async function scanDataset(root: string | readonly SourceSpec[], options: ScanOptions = {}): Promise<Dataset> {
  if (typeof root !== 'string') return scanSources(root, options);
  const absRoot = path.resolve(root);
  let rootEntries;
  try {
    rootEntries = await readdir(absRoot, { withFileTypes: true });
  } catch (e) {
    throw new DatasetError(`cannot read dataset folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`, absRoot);
  }
  const attributeName = options.attribute ?? 'Male';
  const groupsFile = await groupsFileOf(absRoot, options);
  const [table, identities, labelTable, groupTable, excludeTable] = await Promise.all([
    options.attributes ? readAttributeFile(path.resolve(options.attributes)) : undefined,
    options.identities ? readIdentityFile(path.resolve(options.identities)) : undefined,
    options.labels ? readLabelTable(path.resolve(options.labels)) : undefined,
    groupsFile ? readLabelTable(groupsFile) : undefined,
    options.exclude ? readLabelTable(path.resolve(options.exclude)) : undefined,
  ]);
  if (labelTable && !labelTable.hasLabel) throw new DatasetError('has no "label" column; a labels CSV needs file and label', labelTable.file);

  // A class folder may be a link to one.
  const isFolder = async (e: (typeof rootEntries)[number]) => e.isDirectory() || (e.isSymbolicLink() && ((await stat(path.join(absRoot, e.name)).catch(() => undefined))?.isDirectory() ?? false));
  const folderFlags = await Promise.all(rootEntries.map(isFolder));
  const classDirs = rootEntries.filter((_, i) => folderFlags[i]).map((e) => e.name).sort(byCodePoint);
  const layout: DatasetSource['layout'] = labelTable ? 'csv' : classDirs.length > 0 ? 'class-folders' : 'attribute';
  let classNames: string[];
  let labelSource: string;
  let attributeIndex = -1;
  if (table) {
    attributeIndex = table.names.indexOf(attributeName);
    if (attributeIndex < 0) {
      throw new DatasetError(`attribute "${attributeName}" is not in the header (${table.names.join(', ')})`, table.file);
    }
  }
  if (labelTable) {
    classNames = options.classNames ?? [...new Set(labelTable.rows.map((r) => r.label as string))].sort(byCodePoint);
    const used = new Set(labelTable.rows.map((r) => rowLabel(r, classNames, labelTable.file)));
    if (used.size < 2) {
      throw new DatasetError(`the label column holds one class only (${classNames[[...used][0] ?? 0]}); a binary classifier needs two`, labelTable.file);
    }
    labelSource = `the label column of ${path.basename(labelTable.file)} (${classNames.map((c, i) => `${c}=${i}`).join(', ')})`;
  } else if (layout === 'class-folders') {
    if (classDirs.length < 2) {
      throw new DatasetError(`found ${classDirs.length} class folder (${classDirs.join(', ')}); a binary classifier needs two`, absRoot);
    }
    classNames = classDirs;
    labelSource = `class folders (${classDirs.map((c, i) => `${c}=${i}`).join(', ')})`;
  } else {
    if (!table) {
      throw new DatasetError('has no class sub-folders; give --attributes to label a flat folder by an attribute', absRoot);
    }
    classNames = attributeName === 'Male' ? ['female', 'male'] : [`not_${attributeName}`, attributeName];
    labelSource = `attribute ${attributeName} of ${path.basename(table.file)} (1 → ${classNames[1]}, -1 → ${classNames[0]})`;
  }

  const listed = await listImageFiles(absRoot, absRoot);
  const listingHash = hashListing(listed.files);
  const byKey = new Map(listed.files.map((f) => [pathKey(f.rel), f]));
  const excluded = new Set<ListedFile>();
  for (const row of excludeTable?.rows ?? []) {
    const file = byKey.get(pathKey(row.path));
    if (!file) throw new DatasetError(`line ${row.line}: "${row.path}" is not an image file in ${absRoot}`, excludeTable?.file as string);
    excluded.add(file);
  }
  // The listing hash above still covers every file, so a split notices the folder itself changing.
  const kept = excluded.size > 0 ? listed.files.filter((f) => !excluded.has(f)) : listed.files;
  // A labels CSV picks the images: each row must name an image of the folder, and only those are read.
  const csvLabel = new Map<ListedFile, number>();
  if (labelTable) {
    for (const row of labelTable.rows) {
      const file = byKey.get(pathKey(row.path));
      if (!file) throw new DatasetError(`line ${row.line}: "${row.path}" is not an image file in ${absRoot}`, labelTable.file);
      csvLabel.set(file, rowLabel(row, classNames, labelTable.file));
    }
  }
  const candidates = labelTable ? kept.filter((f) => csvLabel.has(f)) : kept;
  const reasons = await mapLimited(candidates, 64, sniffFile);
  const badImages: BadImage[] = [];
  const images: DatasetImage[] = [];
  let unlabelled = labelTable ? kept.length - candidates.length : 0;
  let labelConflicts = 0;
  candidates.forEach((file, i) => {
    const reason = reasons[i];
    if (reason) {
      badImages.push({ path: file.rel, reason });
      return;
    }
    const name = path.basename(file.rel);
    const attributes = table?.rows.get(name);
    let label: number;
    if (labelTable) {
      label = csvLabel.get(file) as number;
      if (attributes && (attributes[attributeIndex] === 1 ? 1 : 0) !== label) labelConflicts++;
    } else if (layout === 'class-folders') {
      const top = file.rel.split('/')[0] as string;
      label = classNames.indexOf(top);
      if (label < 0) return; // a file at the root, outside any class folder: Keras ignores it too
      if (attributes && classNames.length === 2 && (attributes[attributeIndex] === 1 ? 1 : 0) !== label) labelConflicts++;
    } else {
      if (!attributes) {
        unlabelled++;
        return;
      }
      label = attributes[attributeIndex] === 1 ? 1 : 0;
    }
    const image: DatasetImage = { path: file.rel, label, bytes: file.bytes };
    if (attributes) image.attributes = attributes;
    const identity = identities?.get(name);
    if (identity !== undefined) image.identity = identity;
    images.push(image);
  });
  if (badImages.length > 0 && !options.skipBad) {
    const first = badImages[0] as BadImage;
    throw new DatasetError(
      `${first.reason}${badImages.length > 1 ? ` (and ${badImages.length - 1} more unreadable images; --skip-bad skips them)` : ' (--skip-bad skips it)'}`,
      path.join(absRoot, first.path),
    );
  }
  if (identities) {
    const missing = images.filter((im) => im.identity === undefined);
    if (missing.length > 0) {
      throw new DatasetError(
        `${missing.length} images have no identity, e.g. ${missing.slice(0, 3).map((m) => m.path).join(', ')}`,
        path.resolve(options.identities as string),
      );
    }
  }
  if (images.length === 0) throw new DatasetError('contains no labelled images', absRoot);
  images.sort((a, b) => byCodePoint(a.path, b.path));
  // A labels CSV's other columns are groups of the images it lists; a groups CSV may also list a label, which must agree.
  if (labelTable) applyGroups(images, labelTable, classNames, byKey, absRoot);
  const groupCheck = groupTable ? applyGroups(images, groupTable, classNames, byKey, absRoot) : { labelConflicts: 0, ungrouped: 0 };
  labelConflicts += groupCheck.labelConflicts;

  const dataset: Dataset = {
    root: absRoot,
    layout,
    classNames,
    labelSource,
    images,
    attributeNames: table?.names ?? [],
    groupColumns: [...new Set([...(labelTable?.columns ?? []), ...(groupTable?.columns ?? [])])],
    ungrouped: groupCheck.ungrouped,
    nonImageFiles: listed.nonImage,
    badImages,
    unlabelled,
    labelConflicts,
    listingHash,
  };
  if (table) dataset.attributesFile = table.file;
  if (options.identities) dataset.identitiesFile = path.resolve(options.identities);
  if (groupTable) dataset.groupsFile = groupTable.file;
  if (options.align) dataset.align = true;
  if (excludeTable) {
    dataset.excludeFile = excludeTable.file;
    dataset.excluded = excluded.size;
  }
  return dataset;
}

/** The groups CSV to read: the one given, else the folder's own groups.csv (not with a labels CSV, which carries its own columns). */
async function groupsFileOf(absRoot: string, options: ScanOptions): Promise<string | undefined> {
  if (options.groups === false) return undefined;
  if (options.groups) return path.resolve(options.groups);
  if (options.labels) return undefined;
  const own = path.join(absRoot, GROUPS_FILE);
  try {
    return (await stat(own)).isFile() ? own : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts a CSV's group columns on the images it lists. A row must name an image file of the folder;
 * a label cell that disagrees with the image's label is counted (the folder wins).
 */
function applyGroups(images: DatasetImage[], t: LabelTable, classNames: readonly string[], listed: Map<string, ListedFile>, absRoot: string) {
  const byKey = new Map(images.map((im) => [pathKey(im.path), im]));
  let labelConflicts = 0;
  let listedImages = 0;
  for (const row of t.rows) {
    const key = pathKey(row.path);
    const image = byKey.get(key);
    if (!image) {
      if (listed.has(key)) continue; // an unreadable image skipped with skipBad, or a file outside the class folders
      throw new DatasetError(`line ${row.line}: "${row.path}" is not an image file in ${absRoot}`, t.file);
    }
    listedImages++;
    if (row.label !== undefined && rowLabel(row, classNames, t.file) !== image.label) labelConflicts++;
    if (Object.keys(row.groups).length > 0) image.groups = { ...image.groups, ...row.groups };
  }
  return { labelConflicts, ungrouped: images.length - listedImages };
}

function commonFolder(folders: readonly string[]): string {
  const split = folders.map((f) => f.split(path.sep));
  const first = split[0] as string[];
  let n = first.length;
  for (const parts of split) {
    let i = 0;
    while (i < n && parts[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n).join(path.sep) || path.sep;
}

async function scanSources(specs: readonly SourceSpec[], shared: ScanOptions): Promise<Dataset> {
  if (specs.length === 0) throw new DatasetError('no dataset folder given');
  if (specs.length === 1) {
    const { root, name: _name, ...own } = specs[0] as SourceSpec;
    return scanDataset(root, { ...shared, ...own });
  }
  const names = specs.map((s) => s.name ?? path.basename(path.resolve(s.root)));
  names.forEach((name, i) => {
    if (!/^[^/\\]+$/.test(name) || name === '.' || name === '..') throw new DatasetError(`"${name}" cannot name a source (no slashes)`, path.resolve(specs[i]?.root as string));
    const j = names.indexOf(name);
    if (j !== i) {
      throw new DatasetError(`two sources are named "${name}" (${path.resolve(specs[j]?.root as string)} and this one); give one another name (name=…)`, path.resolve(specs[i]?.root as string));
    }
  });
  const parts: Dataset[] = [];
  for (const spec of specs) {
    const { root, name: _name, ...own } = spec;
    parts.push(await scanDataset(root, { ...shared, ...own }));
  }
  const first = parts[0] as Dataset;
  const attributeNames = parts.find((d) => d.attributeNames.length > 0)?.attributeNames ?? [];
  for (const d of parts) {
    if (d.classNames.join('\u0000') !== first.classNames.join('\u0000')) {
      throw new DatasetError(`its classes (${d.classNames.join(', ')}) differ from those of ${names[0]} (${first.classNames.join(', ')})`, d.root);
    }
    if (d.attributeNames.length > 0 && d.attributeNames.join('\u0000') !== attributeNames.join('\u0000')) {
      throw new DatasetError('its attribute file names other attributes than that of an earlier source; sources must share one attribute list', d.attributesFile ?? d.root);
    }
  }
  const sources: DatasetSource[] = parts.map((d, i) => ({ name: names[i] as string, ...datasetRecord(d) }));
  const images = parts.flatMap((d, i) => d.images.map((im) => ({ ...im, path: `${names[i]}/${im.path}`, source: names[i] as string })));
  images.sort((a, b) => byCodePoint(a.path, b.path));
  const sum = (f: (d: Dataset) => number) => parts.reduce((s, d) => s + f(d), 0);
  return {
    root: commonFolder(parts.map((d) => d.root)),
    layout: 'sources',
    classNames: first.classNames,
    labelSource: sources.map((s) => `${s.name}: ${s.labelSource}`).join('; '),
    images,
    attributeNames,
    groupColumns: [...new Set(parts.flatMap((d) => d.groupColumns))],
    ungrouped: sum((d) => d.ungrouped),
    sources,
    nonImageFiles: sum((d) => d.nonImageFiles),
    badImages: parts.flatMap((d, i) => d.badImages.map((b) => ({ ...b, path: `${names[i]}/${b.path}` }))),
    unlabelled: sum((d) => d.unlabelled),
    labelConflicts: sum((d) => d.labelConflicts),
    listingHash: createHash('sha256').update(sources.map((s) => `${s.name}\t${s.listingHash}`).join('\n')).digest('hex'),
  };
}

export function datasetRecord(d: Dataset): DatasetRecord {
  const record: DatasetRecord = {
    root: d.root,
    layout: d.layout,
    classNames: d.classNames,
    labelSource: d.labelSource,
    attributeNames: d.attributeNames,
    ...(d.groupColumns.length > 0 ? { groupColumns: d.groupColumns } : {}),
    listingHash: d.listingHash,
    imageCount: d.images.length,
  };
  if (d.attributesFile) record.attributesFile = d.attributesFile;
  if (d.identitiesFile) record.identitiesFile = d.identitiesFile;
  if (d.groupsFile) record.groupsFile = d.groupsFile;
  if (d.align) record.align = true;
  if (d.excludeFile) {
    record.excludeFile = d.excludeFile;
    record.excluded = d.excluded ?? 0;
  }
  return record;
}

/** Where an image of a dataset (or a split's dataset record) is on disk. */
export function datasetImageFile(dataset: { root: string; sources?: ReadonlyArray<{ name: string; root: string }> }, image: { path: string; source?: string }): string {
  if (image.source === undefined || !dataset.sources) return path.join(dataset.root, image.path);
  const source = dataset.sources.find((s) => s.name === image.source);
  if (!source) throw new DatasetError(`image ${image.path} names source "${image.source}", which the dataset does not have (${dataset.sources.map((s) => s.name).join(', ')})`);
  return path.join(source.root, image.path.slice(source.name.length + 1));
}

/** A short name for a dataset: its folder's name, or its sources' names joined. */
export function datasetName(dataset: { root: string; sources?: ReadonlyArray<{ name: string }> }): string {
  return dataset.sources ? dataset.sources.map((s) => s.name).join(' + ') : path.basename(dataset.root);
}

export function classCounts(dataset: Pick<Dataset, 'classNames' | 'images'>): number[] {
  const counts = dataset.classNames.map(() => 0);
  for (const image of dataset.images) counts[image.label] = (counts[image.label] ?? 0) + 1;
  return counts;
}

export type { AttributeTable };
