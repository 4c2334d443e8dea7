import { csvLine } from './csv.js';
import { PARTS, type Part, type Split } from './split.js';

/** One part of one source as a labels CSV that `evaluate --data <folder> --labels` reads. */
export interface PartList {
  /** `<part>.csv`, or `<source>.<part>.csv` with several sources. */
  name: string;
  source?: string;
  part: Part;
  /** The folder the CSV's paths are relative to. */
  root: string;
  rows: number;
  csv: string;
}

/**
 * The split's parts as labels CSVs (file, label, then the group columns), so that a part can be
 * evaluated through the photo path of `evaluate --data`, as a user's own photos are, rather than
 * through the split's cached features.
 */
export function partLists(split: Split): PartList[] {
  const classNames = split.dataset.classNames;
  const columns = split.dataset.groupColumns ?? [];
  const sources: Array<{ name?: string; root: string }> = split.sources?.length ? split.sources : [{ root: split.dataset.root }];
  const out: PartList[] = [];
  for (const source of sources) {
    const prefix = source.name === undefined ? '' : `${source.name}/`;
    for (const part of PARTS) {
      const images = split.images.filter((im) => im.part === part && (source.name === undefined || im.source === source.name));
      if (images.length === 0) continue;
      const used = columns.filter((c) => images.some((im) => im.groups?.[c] !== undefined));
      const lines = [csvLine(['file', 'label', ...used])];
      for (const im of images) {
        const file = im.path.startsWith(prefix) ? im.path.slice(prefix.length) : im.path;
        lines.push(csvLine([file, classNames[im.label] ?? String(im.label), ...used.map((c) => im.groups?.[c] ?? '')]));
      }
      out.push({ name: source.name === undefined ? `${part}.csv` : `${source.name}.${part}.csv`, ...(source.name === undefined ? {} : { source: source.name }), part, root: source.root, rows: images.length, csv: lines.join('\n') + '\n' });
    }
  }
  return out;
}
