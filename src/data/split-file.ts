import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SplitError } from '../errors.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { currentListingHash } from './dataset.js';
import { PARTS, type Split } from './split.js';

/** One image per line keeps a 10,000-image split readable in a diff and a text editor. */
function serialise(split: Split): string {
  const { images, ...head } = split;
  const headJson = JSON.stringify(head, null, 2);
  const body = images.map((im) => '    ' + JSON.stringify(im)).join(',\n');
  return `${headJson.slice(0, -2)},\n  "images": [\n${body}\n  ]\n}\n`;
}

export async function writeSplit(split: Split, file: string): Promise<void> {
  await writeFileAtomically(file, serialise(split));
}

export interface ReadSplitOptions {
  /**
   * Where the dataset lives now, if it moved since the split was made. For a split of several
   * sources, the folder that now holds them, each under its source name.
   */
  dataRoot?: string;
  /** Re-list the dataset folder and fail if it changed since the split was made. Default true. */
  verify?: boolean;
}

export async function readSplit(file: string, options: ReadSplitOptions = {}): Promise<Split> {
  let split: Split;
  try {
    split = JSON.parse(await readFile(file, 'utf8')) as Split;
  } catch (e) {
    const reason = e instanceof SyntaxError ? `not valid JSON (${e.message})` : `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
    throw new SplitError(reason, file);
  }
  if (split?.format !== 'facegender-split' || (split.version !== 1 && split.version !== 2) || !Array.isArray(split.images)) {
    throw new SplitError('not a facegender split file (format "facegender-split", version 1 or 2)', file);
  }
  const sources = split.sources;
  if (split.version === 2 && (!Array.isArray(sources) || sources.some((s) => typeof s?.name !== 'string' || typeof s.root !== 'string' || typeof s.listingHash !== 'string'))) {
    throw new SplitError('a version 2 split needs its sources (name, root and listingHash of each)', file);
  }
  const names = new Set(sources?.map((s) => s.name));
  for (const [i, im] of split.images.entries()) {
    if (typeof im.path !== 'string' || !Number.isInteger(im.label) || !(PARTS as readonly string[]).concat('unused').includes(im.part)) {
      throw new SplitError(`image entry ${i} is malformed (needs path, label and part)`, file);
    }
    if (sources && (typeof im.source !== 'string' || !names.has(im.source) || !im.path.startsWith(`${im.source}/`))) {
      throw new SplitError(`image entry ${i} (${im.path}) names no source of this split (${[...names].join(', ')})`, file);
    }
  }
  if (options.dataRoot) {
    split.dataset.root = path.resolve(options.dataRoot);
    for (const s of sources ?? []) s.root = path.join(split.dataset.root, s.name);
  }
  if (options.verify ?? true) {
    const folders = sources ? sources.map((s) => ({ root: s.root, listingHash: s.listingHash })) : [{ root: split.dataset.root, listingHash: split.dataset.listingHash }];
    for (const folder of folders) {
      let hash: string;
      try {
        hash = await currentListingHash(folder.root);
      } catch (e) {
        throw new SplitError(`the dataset folder ${folder.root} cannot be listed (${(e as NodeJS.ErrnoException).code ?? String(e)}); give its new place with --data`, file);
      }
      if (hash !== folder.listingHash) {
        throw new SplitError(
          `the dataset folder ${folder.root} changed since this split was made (files added, removed or resized); make the split again`,
          file,
        );
      }
    }
  }
  return split;
}
