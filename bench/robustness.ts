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
import path from 'node:path';
import { parseArgs } from 'node:util';
import { terminalProgress } from '../src/cli/progress-bar.js';
import { COMPETITOR_IDS, loadCompetitors } from '../src/competitors/index.js';
import { REFRAMINGS, type Reframing } from '../src/data/reframe.js';
import { readSplit } from '../src/data/split-file.js';
import type { DetectorKind } from '../src/detect/face-detector.js';
import { buildRobustnessSets, robustnessMarkdown, scoreCompetitorOnSets, scoreModelOnSets, type RobustnessRow } from '../src/experiments/robustness.js';
import { mergeRobustnessRows, robustnessComparisonMarkdown, storedRobustnessRows } from '../src/experiments/robustness-results.js';
import { loadClassifier } from '../src/predict/classifier.js';
import { createPhotoClassifier } from '../src/predict/classify-photo.js';
import { writeJsonAtomically } from '../src/util/atomic-write.js';
import { readOptionalJson, ROBUSTNESS_FILE, writeModelCard } from '../src/experiments/model-card.js';

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
  // Read before scoring: a results file that cannot be parsed stops the run now, not after an hour, and is never overwritten.
  const resultsFile = path.join(values.out, 'results.json');
  const modelResultsFile = path.join(values.model, ROBUSTNESS_FILE);
  const [storedResults, storedOwn] = await Promise.all([readOptionalJson<unknown>(resultsFile), readOptionalJson<unknown>(modelResultsFile)]);
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
    rows.push(...(await scoreModelOnSets(photo, `ours (${values.model}: ${classifier.manifest.base.id}, ${values.detector})`, built, classNames, { onProgress: progress })));
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
  // A run replaces the rows of its split, sets and models, and keeps every other model's and split's.
  const results = mergeRobustnessRows(storedRobustnessRows(storedResults), values.split, rows);
  await writeJsonAtomically(resultsFile, { rows: results });
  // The model's own rows go beside its bundle, where its model card picks them up: one split's.
  const ours = rows.filter((r) => r.model.startsWith('ours'));
  // Rows the file holds from a run with the same detector are this model's under an older label.
  const label = ours[0]?.model ?? '';
  const earlier = storedRobustnessRows(storedOwn)
    .filter((r) => r.split === values.split)
    .map((r) => (r.model.endsWith(`, ${values.detector})`) ? { ...r, model: label } : r));
  await writeJsonAtomically(modelResultsFile, { split: values.split, sets: values.out, rows: mergeRobustnessRows(earlier, values.split, ours) });
  await writeModelCard(values.model);
  console.log(`Robustness suite: ${built[0]?.samples.length ?? 0} test faces per set from ${values.split}, model ${values.model}\n`);
  console.log(robustnessMarkdown(rows));
  const compared = results.filter((r) => r.split === values.split && sets.includes(r.set));
  console.log(`Accuracy of every model scored on these sets of ${values.split} (${resultsFile}):\n`);
  console.log(robustnessComparisonMarkdown(compared));
}

await main();
