/**
 * The robustness suite: the comparison split's test faces re-framed (tight, wide, rolled, small,
 * dark, grey, jpeg, mirrored, and plain), scored through the photo path with detection for a
 * trained model, and for every packaged competitor. A crop in which no face is found is an error.
 *
 * Run: npm run bench:robustness -- --split runs/split.json --model runs/face-1
 *        [--out runs/robustness] [--per-class N] [--sets tight,wide] [--competitors a,b | --no-competitors]
 *        [--detector blazeface|ssd] [--source NAME]
 *
 * The sets are written under --out (images, truth.json, labels.csv) so a second run only scores.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { terminalProgress } from '../src/cli/progress-bar.js';
import { COMPETITOR_IDS, loadCompetitors } from '../src/competitors/index.js';
import { REFRAMINGS, type Reframing } from '../src/data/reframe.js';
import { readSplit } from '../src/data/split-file.js';
import type { DetectorKind } from '../src/detect/face-detector.js';
import { buildRobustnessSets, robustnessMarkdown, scoreCompetitorOnSets, scoreModelOnSets, type RobustnessRow } from '../src/experiments/robustness.js';
import { loadClassifier } from '../src/predict/classifier.js';
import { createPhotoClassifier } from '../src/predict/classify-photo.js';
import { writeJsonAtomically } from '../src/util/atomic-write.js';
import { ROBUSTNESS_FILE, writeModelCard } from '../src/experiments/model-card.js';

const { values } = parseArgs({
  options: {
    split: { type: 'string', default: 'runs/split.json' },
    model: { type: 'string', default: 'runs/face-1' },
    out: { type: 'string', default: 'runs/robustness' },
    'per-class': { type: 'string' },
    sets: { type: 'string' },
    competitors: { type: 'string' },
    'no-competitors': { type: 'boolean', default: false },
    detector: { type: 'string', default: 'blazeface' },
    source: { type: 'string' },
  },
});

const progress = terminalProgress();

async function main(): Promise<void> {
  const split = await readSplit(values.split);
  const sets = (values.sets?.split(',') ?? [...REFRAMINGS]) as Reframing[];
  const built = await buildRobustnessSets(split, values.out, {
    sets,
    ...(values['per-class'] ? { perClass: Number(values['per-class']) } : {}),
    ...(values.source ? { source: values.source } : {}),
    onProgress: progress,
  });
  const classNames = split.dataset.classNames;
  const rows: RobustnessRow[] = [];

  const classifier = await loadClassifier(values.model);
  const photo = await createPhotoClassifier(classifier, { detector: { kind: values.detector as DetectorKind } });
  try {
    rows.push(...(await scoreModelOnSets(photo, `ours (${classifier.manifest.base.id}, ${values.detector})`, built, classNames, { onProgress: progress })));
  } finally {
    progress.stop();
    await photo.dispose();
    await classifier.dispose();
  }

  const competitorIds = values['no-competitors'] ? [] : (values.competitors?.split(',') ?? [...COMPETITOR_IDS]);
  for (const id of competitorIds) {
    const [model] = await loadCompetitors([id]);
    if (!model) continue;
    try {
      rows.push(...(await scoreCompetitorOnSets(model, built, classNames)));
      console.error(`${id}: done`);
    } finally {
      await model.dispose();
    }
  }

  rows.sort((a, b) => sets.indexOf(a.set) - sets.indexOf(b.set));
  // A run of some sets (--sets) replaces those sets' rows and keeps the others of the same split.
  await writeJsonAtomically(`${values.out}/results.json`, { model: values.model, split: values.split, rows: await mergedRows(`${values.out}/results.json`, values.split, rows) });
  // The model's own rows go beside its bundle, where its model card picks them up.
  const ours = rows.filter((r) => r.model.startsWith('ours'));
  await writeJsonAtomically(path.join(values.model, ROBUSTNESS_FILE), { split: values.split, sets: values.out, rows: await mergedRows(path.join(values.model, ROBUSTNESS_FILE), values.split, ours) });
  await writeModelCard(values.model);
  console.log(`Robustness suite: ${built[0]?.samples.length ?? 0} test faces per set from ${values.split}, model ${values.model}\n`);
  console.log(robustnessMarkdown(rows));
}

/** `rows`, after the rows of `file` (written for the same split) whose set and model they do not cover. */
async function mergedRows(file: string, split: string, rows: RobustnessRow[]): Promise<RobustnessRow[]> {
  let earlier: { split?: string; rows?: RobustnessRow[] } = {};
  try {
    earlier = JSON.parse(await readFile(file, 'utf8')) as typeof earlier;
  } catch {
    return rows;
  }
  if (earlier.split !== split || !Array.isArray(earlier.rows)) return rows;
  const fresh = new Set(rows.map((r) => `${r.set}\u0000${r.model}`));
  const kept = earlier.rows.filter((r) => !fresh.has(`${r.set}\u0000${r.model}`));
  const order = (r: RobustnessRow) => REFRAMINGS.indexOf(r.set);
  return [...kept, ...rows].sort((a, b) => order(a) - order(b));
}

await main();
