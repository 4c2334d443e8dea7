import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { readAttributeFile, type AttributeTable } from './attributes.js';
import { readIdentityFile } from './identities.js';
import { IMAGE_EXTENSIONS, describeNonImage, sniffImageFormat } from './sniff.js';
import { mapLimited } from '../util/map-limited.js';

export interface DatasetImage {
  /** Path relative to the dataset root, with forward slashes. */
  path: string;
  label: number;
  identity?: string;
  /** 1/-1 per `Dataset.attributeNames`, when the attribute file lists this image. */
  attributes?: Int8Array;
  bytes: number;
}

export interface BadImage {
  path: string;
  reason: string;
}

export interface Dataset {
  root: string;
  /** `class-folders`: labels from sub-folder names (Keras flow_from_directory); `attribute`: a flat folder labelled by one attribute. */
  layout: 'class-folders' | 'attribute';
  classNames: string[];
  /** Where labels come from, in words. */
  labelSource: string;
  images: DatasetImage[];
  attributeNames: string[];
  attributesFile?: string;
  identitiesFile?: string;
  /** Files without an image extension, skipped. */
  nonImageFiles: number;
  /** Files with an image extension whose bytes are not an image. */
  badImages: BadImage[];
  /** Images of an attribute-labelled folder that the attribute file does not list. */
  unlabelled: number;
  /** Images that carry attributes whose label attribute disagrees with their folder. */
  labelConflicts: number;
  /** sha256 of the image listing (path and size), to notice a folder changed since a split was made. */
  listingHash: string;
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
}

interface ListedFile {
  rel: string;
  abs: string;
  bytes: number;
}

const toPosix = (p: string) => p.split(path.sep).join('/');
/** Python's sorted() order, which Keras uses for class indices: by code point, not locale. */
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function listImageFiles(root: string, dir: string): Promise<{ files: ListedFile[]; nonImage: number }> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: ListedFile[] = [];
  let nonImage = 0;
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const abs = path.join(entry.parentPath, entry.name);
    if (!IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) {
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
 * and `male` = 1), or a flat folder labelled by one attribute of a CelebA attribute file.
 */
export async function scanDataset(root: string, options: ScanOptions = {}): Promise<Dataset> {
  const absRoot = path.resolve(root);
  let rootEntries;
  try {
    rootEntries = await readdir(absRoot, { withFileTypes: true });
  } catch (e) {
    throw new DatasetError(`cannot read dataset folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`, absRoot);
  }
  const attributeName = options.attribute ?? 'Male';
  const [table, identities] = await Promise.all([
    options.attributes ? readAttributeFile(path.resolve(options.attributes)) : undefined,
    options.identities ? readIdentityFile(path.resolve(options.identities)) : undefined,
  ]);

  const classDirs = rootEntries.filter((e) => e.isDirectory()).map((e) => e.name).sort(byCodePoint);
  const layout: Dataset['layout'] = classDirs.length > 0 ? 'class-folders' : 'attribute';
  let classNames: string[];
  let labelSource: string;
  let attributeIndex = -1;
  if (table) {
    attributeIndex = table.names.indexOf(attributeName);
    if (attributeIndex < 0) {
      throw new DatasetError(`attribute "${attributeName}" is not in the header (${table.names.join(', ')})`, table.file);
    }
  }
  if (layout === 'class-folders') {
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
  const reasons = await mapLimited(listed.files, 64, sniffFile);
  const badImages: BadImage[] = [];
  const images: DatasetImage[] = [];
  let unlabelled = 0;
  let labelConflicts = 0;
  listed.files.forEach((file, i) => {
    const reason = reasons[i];
    if (reason) {
      badImages.push({ path: file.rel, reason });
      return;
    }
    const name = path.basename(file.rel);
    const attributes = table?.rows.get(name);
    let label: number;
    if (layout === 'class-folders') {
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

  const dataset: Dataset = {
    root: absRoot,
    layout,
    classNames,
    labelSource,
    images,
    attributeNames: table?.names ?? [],
    nonImageFiles: listed.nonImage,
    badImages,
    unlabelled,
    labelConflicts,
    listingHash,
  };
  if (table) dataset.attributesFile = table.file;
  if (options.identities) dataset.identitiesFile = path.resolve(options.identities);
  return dataset;
}

export function classCounts(dataset: Pick<Dataset, 'classNames' | 'images'>): number[] {
  const counts = dataset.classNames.map(() => 0);
  for (const image of dataset.images) counts[image.label] = (counts[image.label] ?? 0) + 1;
  return counts;
}

export type { AttributeTable };
