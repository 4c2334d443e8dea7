import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { scanDataset, classCounts, type Dataset, type SourceSpec } from '../data/dataset.js';
import { makeSplit, PARTS, STUDY_SPLIT_SIZES, type PartSummary, type SourceSplitOptions, type Split } from '../data/split.js';
import { writeSplit } from '../data/split-file.js';
import { partLists } from '../data/part-lists.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { UsageError } from '../errors.js';
import { parseInteger } from './options.js';

/** A `--data` value: the folder, then optional `key=value` settings of that folder. */
export interface DataArgument {
  dir: string;
  scan: Omit<SourceSpec, 'root'>;
  split: SourceSplitOptions;
}

const SOURCE_KEYS = ['name', 'attributes', 'attribute', 'identities', 'groups', 'train', 'val', 'test', 'balanced', 'stratify', 'identity-disjoint', 'align', 'exclude'] as const;

/**
 * Parses `DIR[,key=value…]`. The folder is everything before the first `,word=` (or a bare `,balanced` or `,align`),
 * so a folder whose name has a comma still works.
 */
export function parseDataArgument(value: string): DataArgument {
  const keys = SOURCE_KEYS.join('|');
  const start = value.search(/,(?:[A-Za-z][\w-]*=|(?:balanced|align)(?:,|$))/);
  const dir = start < 0 ? value : value.slice(0, start);
  if (dir === '') throw new InvalidArgumentError(`"${value}" names no folder`);
  const out: DataArgument = { dir, scan: {}, split: {} };
  if (start < 0) return out;
  const settings = value.slice(start + 1).split(new RegExp(`,(?=[A-Za-z][\\w-]*=|(?:${keys})(?:,|$))`));
  const whole = (key: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${key}= expects a whole number ≥ 0, got "${v}"`);
    return n;
  };
  const yesNo = (key: string, v: string | undefined) => {
    if (v === undefined || v === 'true' || v === 'yes') return true;
    if (v === 'false' || v === 'no') return false;
    throw new InvalidArgumentError(`${key}= expects true or false, got "${v}"`);
  };
  for (const setting of settings) {
    const eq = setting.indexOf('=');
    const key = eq < 0 ? setting : setting.slice(0, eq);
    const v = eq < 0 ? undefined : setting.slice(eq + 1);
    if (!(SOURCE_KEYS as readonly string[]).includes(key)) throw new InvalidArgumentError(`unknown setting "${key}" in "${value}" (known: ${SOURCE_KEYS.join(', ')})`);
    if (key === 'balanced') out.split.balanced = yesNo(key, v);
    else if (key === 'identity-disjoint') out.split.identityDisjoint = yesNo(key, v);
    else if (key === 'align') out.scan.align = yesNo(key, v);
    else if (v === undefined || v === '') throw new InvalidArgumentError(`${key} needs a value (${key}=…) in "${value}"`);
    else if (key === 'train' || key === 'val' || key === 'test') out.split[key] = whole(key, v);
    else if (key === 'stratify') out.split.stratify = v;
    else if (key === 'groups') out.scan.groups = v === 'none' ? false : v;
    else out.scan[key as 'name' | 'attributes' | 'attribute' | 'identities' | 'exclude'] = v;
  }
  return out;
}

function collectData(value: string, previous: DataArgument[] | undefined): DataArgument[] {
  return [...(previous ?? []), parseDataArgument(value)];
}

function describeSummary(classNames: readonly string[], summary: Record<(typeof PARTS)[number], PartSummary>, prefix: string[] = []): string[] {
  return PARTS.map((part) => {
    const s = summary[part];
    return [...prefix, part, s.images, s.identities, ...s.perClass].join('\t');
  });
}

function describeGroups(classNames: readonly string[], summary: Record<(typeof PARTS)[number], PartSummary>, column: string, prefix: string): string[] {
  return PARTS.map((part) => {
    const groups = Object.entries(summary[part].perGroup ?? {});
    return `${prefix}${part} by ${column}: ${groups.map(([value, counts]) => `${value} ${counts.map((c, i) => `${c} ${classNames[i]}`).join(' / ')}`).join(', ')}`;
  });
}

function describeDataset(dataset: Dataset): string[] {
  const lines: string[] = [];
  const counts = classCounts(dataset);
  const sources = dataset.sources ?? [];
  if (sources.length === 0) {
    lines.push(`${dataset.root}: ${dataset.images.length} images, ${dataset.classNames.map((c, i) => `${counts[i]} ${c}`).join(', ')}; labels from ${dataset.labelSource}`);
  } else {
    for (const s of sources) {
      const own = dataset.images.filter((im) => im.source === s.name);
      const c = classCounts({ classNames: dataset.classNames, images: own });
      lines.push(`${s.name} (${s.root}): ${own.length} images, ${dataset.classNames.map((name, i) => `${c[i]} ${name}`).join(', ')}; labels from ${s.labelSource}`);
    }
  }
  const groupsFiles = sources.length ? sources.filter((s) => s.groupsFile).map((s) => [s.groupsFile as string, s.groupColumns ?? []] as const) : dataset.groupsFile ? [[dataset.groupsFile, dataset.groupColumns] as const] : [];
  for (const [file, columns] of groupsFiles) lines.push(`groups from ${file} (${columns.join(', ')})`);
  for (const s of sources.length ? sources : [dataset]) {
    if (s.excludeFile) lines.push(`left out ${s.excluded} images listed in ${s.excludeFile}${sources.length ? ` (${(s as { name?: string }).name})` : ''}`);
  }
  if (dataset.ungrouped) lines.push(`note: ${dataset.ungrouped} images are not listed in their groups file and carry no groups`);
  return lines;
}

export function splitCommand(): Command {
  return new Command('split')
    .description('Make a train/validation/test split of one or more dataset folders, stratified by class (and by a group column) and identity-disjoint when identities are given')
    .requiredOption(
      '--data <dir[,key=value…]>',
      'dataset folder: class sub-folders (alphabetical order = class index), or a flat folder labelled by --attributes. Repeat for several folders, ' +
        'each split on its own with its own settings after commas: name=, attributes=, attribute=, identities=, groups= (a CSV, or none), exclude= (a CSV of files to leave out), train=, val=, test=, balanced[=false], stratify=COLUMN, identity-disjoint=false, align; ' +
        'what a folder does not set comes from the options below',
      collectData,
    )
    .option('--attributes <file>', 'CelebA list_attr_celeba.txt-format file: labels a flat folder, and adds attributes for subgroup analysis')
    .option('--attribute <name>', 'attribute that labels a flat folder (1 = positive class)', 'Male')
    .option('--identities <file>', 'CelebA identity_CelebA.txt-format file; makes the split identity-disjoint')
    .option('--groups <file>', 'CSV file,[label,]column… of group columns per image (default: the folder\'s groups.csv if it has one; "none" for none)')
    .option('--exclude <file>', 'CSV file[,note…] of images to leave out, as if they were not in the folder (e.g. crops without a face)')
    .option('--train <n>', 'training images', parseInteger(0), STUDY_SPLIT_SIZES.train)
    .option('--val <n>', 'validation images', parseInteger(0), STUDY_SPLIT_SIZES.val)
    .option('--test <n>', 'test images', parseInteger(0), STUDY_SPLIT_SIZES.test)
    .option('--balanced', 'equal class counts in every part (the study\'s split was balanced); otherwise stratified', false)
    .option('--stratify <column>', 'also stratify by a group column (e.g. ethnicity): every part keeps each class\'s share of every group')
    .option('--no-identity-disjoint', 'allow an identity in several parts even when identities are given')
    .option('--seed <n>', 'random seed', parseInteger(0), 1)
    .option('--skip-bad', 'skip unreadable images and list them, instead of stopping at the first', false)
    .requiredOption('--out <file>', 'split file to write (JSON)')
    .option('--part-lists <dir>', 'also write each part (of each folder) as a labels CSV for evaluate --data --labels: <part>.csv, or <folder name>.<part>.csv')
    .action(async (o) => {
      const data = o.data as DataArgument[];
      const several = data.length > 1;
      if (several) {
        const shared = (['attributes', 'identities', 'groups', 'exclude'] as const).filter((k) => o[k] !== undefined);
        if (shared.length > 0) {
          throw new UsageError(`with several --data folders, give ${shared.map((k) => `--${k}`).join(' and ')} per folder, e.g. --data DIR,${shared[0]}=FILE`);
        }
      }
      const scanOptions = {
        attribute: o.attribute,
        skipBad: o.skipBad,
        ...(o.attributes ? { attributes: o.attributes } : {}),
        ...(o.identities ? { identities: o.identities } : {}),
        ...(o.exclude ? { exclude: o.exclude } : {}),
        ...(o.groups ? { groups: o.groups === 'none' ? (false as const) : o.groups } : {}),
      };
      const specs: SourceSpec[] = data.map((d) => ({ root: d.dir, ...d.scan }));
      const dataset = several ? await scanDataset(specs, scanOptions) : await scanDataset(data[0]?.dir as string, { ...scanOptions, ...data[0]?.scan });
      for (const line of describeDataset(dataset)) console.log(line);
      if (dataset.nonImageFiles) console.log(`skipped ${dataset.nonImageFiles} non-image files`);
      if (dataset.unlabelled) console.log(`skipped ${dataset.unlabelled} images the attribute file does not list`);
      if (dataset.labelConflicts) {
        const withGroups = dataset.groupsFile !== undefined || (dataset.sources ?? []).some((s) => s.groupsFile);
        console.log(`note: ${dataset.labelConflicts} images are in a folder that disagrees with their ${o.attribute} attribute${withGroups ? ' or groups label' : ''} (the folder wins)`);
      }
      const names = dataset.sources?.map((s) => s.name) ?? [];
      const perSource = Object.fromEntries(data.map((d, i) => [names[i], d.split] as const).filter(([name, s]) => name !== undefined && Object.keys(s).length > 0));
      const single = several ? {} : (data[0]?.split ?? {});
      const split: Split = makeSplit(dataset, {
        train: single.train ?? o.train,
        val: single.val ?? o.val,
        test: single.test ?? o.test,
        balanced: single.balanced ?? o.balanced,
        seed: o.seed,
        ...(o.identityDisjoint === false ? { identityDisjoint: false } : {}),
        ...(single.identityDisjoint !== undefined ? { identityDisjoint: single.identityDisjoint } : {}),
        ...((single.stratify ?? o.stratify) ? { stratify: single.stratify ?? o.stratify } : {}),
        ...(several && Object.keys(perSource).length > 0 ? { sources: perSource } : {}),
      });
      await writeSplit(split, o.out);
      const p = split.params;
      console.log(`${p.identityDisjoint ? 'identity-disjoint' : several ? 'not identity-disjoint in every source' : 'not identity-disjoint'}, ${p.balanced ? 'balanced' : 'stratified'}${p.stratify ? ` by class and ${p.stratify}` : ''}, seed ${o.seed}`);
      console.log(['part', 'images', 'identities', ...dataset.classNames].join('\t'));
      for (const line of describeSummary(dataset.classNames, split.summary)) console.log(line);
      if (!several && p.stratify) for (const line of describeGroups(dataset.classNames, split.summary, p.stratify, '')) console.log(line);
      if (split.sources) {
        console.log(['source', 'part', 'images', 'identities', ...dataset.classNames].join('\t'));
        for (const s of split.sources) {
          for (const line of describeSummary(dataset.classNames, s.summary, [s.name])) console.log(line);
        }
        for (const s of split.sources) {
          const how = `${s.params.train}/${s.params.val}/${s.params.test}, ${s.params.balanced ? 'balanced' : 'stratified'}${s.params.stratify ? ` by class and ${s.params.stratify}` : ''}, ${s.params.identityDisjoint ? 'identity-disjoint' : 'split by image'}`;
          console.log(`${s.name}: ${how}`);
          if (s.params.stratify) for (const line of describeGroups(dataset.classNames, s.summary, s.params.stratify, `  `)) console.log(line);
        }
      }
      if (dataset.badImages.length) {
        console.log(`skipped ${dataset.badImages.length} unreadable images:`);
        for (const b of dataset.badImages) console.log(`  ${b.path}: ${b.reason}`);
      }
      console.log(`wrote ${o.out}`);
      if (o.partLists) {
        for (const list of partLists(split)) {
          const file = path.join(o.partLists as string, list.name);
          await writeFileAtomically(file, list.csv);
          console.log(`wrote ${file}: ${list.rows} ${list.part} images of ${list.root}`);
        }
      }
    });
}
