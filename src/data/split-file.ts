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
  /** Where the dataset lives now, if it moved since the split was made. */
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
  if (split?.format !== 'facegender-split' || split.version !== 1 || !Array.isArray(split.images)) {
    throw new SplitError('not a facegender split file (format "facegender-split", version 1)', file);
  }
  for (const [i, im] of split.images.entries()) {
    if (typeof im.path !== 'string' || !Number.isInteger(im.label) || !(PARTS as readonly string[]).concat('unused').includes(im.part)) {
      throw new SplitError(`image entry ${i} is malformed (needs path, label and part)`, file);
    }
  }
  if (options.dataRoot) split.dataset.root = path.resolve(options.dataRoot);
  if (options.verify ?? true) {
    let hash: string;
    try {
      hash = await currentListingHash(split.dataset.root);
    } catch (e) {
      throw new SplitError(`the dataset folder ${split.dataset.root} cannot be listed (${(e as NodeJS.ErrnoException).code ?? String(e)}); give its new place with --data`, file);
    }
    if (hash !== split.dataset.listingHash) {
      throw new SplitError(
        `the dataset folder ${split.dataset.root} changed since this split was made (files added, removed or resized); make the split again`,
        file,
      );
    }
  }
  return split;
}
