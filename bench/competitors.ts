/**
 * Scores the gender models that ship in npm packages (src/competitors/index.ts) on the test part
 * of the comparison's split: celeba-10k, identity-disjoint, class-balanced 5000/750/750, seed 1.
 * Prints accuracy with its 95% bootstrap interval, F1, speed and detector fallbacks.
 *
 * Run: npx tsx bench/competitors.ts [competitor ids...]   (default: all of them)
 *
 * Images/s is end to end (decoding, resizing, the detector where there is one) over the 750
 * images, on whatever share of the CPU the machine gives it; model loading is not counted.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPETITOR_IDS, loadCompetitors } from '../src/competitors/index.js';
import { tfjsRuntimeInfo } from '../src/runtime/tfjs/backend.js';
import { scanDataset } from '../src/data/dataset.js';
import { makeSplit, splitPart, STUDY_SPLIT_SIZES } from '../src/data/split.js';
import { bootstrapCI } from '../src/evaluate/bootstrap.js';
import { formatInterval } from '../src/evaluate/evaluation-markdown.js';

const SHARED = path.resolve(fileURLToPath(new URL('../../shared', import.meta.url)));
const CELEBA = path.join(SHARED, 'datasets', 'celeba-10k');
const IDENTITIES = path.join(CELEBA, 'identity_CelebA_000001-010000.txt');

async function main(): Promise<void> {
  const ids = process.argv.slice(2);
  for (const id of ids) if (!COMPETITOR_IDS.includes(id)) throw new Error(`unknown competitor '${id}'; known: ${COMPETITOR_IDS.join(', ')}`);
  const dataset = await scanDataset(CELEBA, { identities: IDENTITIES });
  const split = makeSplit(dataset, { ...STUDY_SPLIT_SIZES, balanced: true, seed: 1 });
  const test = splitPart(split, 'test');
  const files = test.map((im) => path.join(split.dataset.root, im.path));
  const labels = Uint8Array.from(test, (im) => im.label);

  const rows: string[] = [];
  let runtime = '';
  for (const id of ids.length ? ids : COMPETITOR_IDS) {
    const [model] = await loadCompetitors([id]);
    if (!model) continue;
    if (!runtime) {
      const info = await tfjsRuntimeInfo();
      runtime = `tfjs ${info.backend}${info.simd ? ' SIMD' : ''}, ${info.threads} thread(s)`;
    }
    try {
      const t0 = performance.now();
      const result = await model.score(files);
      const seconds = (performance.now() - t0) / 1000;
      const ci = bootstrapCI(labels, result.probs, result.threshold, { resamples: 1000, seed: 1 });
      const fallbacks = 'fallbacks' in result && typeof result.fallbacks === 'number' ? String(result.fallbacks) : '—';
      rows.push(
        `| ${model.id} | ${formatInterval(ci.metrics.accuracy, true)} | ${ci.metrics.f1.value?.toFixed(3) ?? '—'} | ${(files.length / seconds).toFixed(1)} | ${fallbacks} | ${result.notes ?? ''} |`,
      );
      console.error(`${model.id}: done in ${seconds.toFixed(0)} s`);
    } finally {
      await model.dispose();
    }
  }
  console.log(
    [
      `Competitors on the ${files.length} test images of celeba-10k (identity-disjoint, balanced ${STUDY_SPLIT_SIZES.train}/${STUDY_SPLIT_SIZES.val}/${STUDY_SPLIT_SIZES.test}, seed 1; ${split.summary.test.perClass.map((n, c) => `${n} ${split.dataset.classNames[c]}`).join(' / ')}), ${runtime}`,
      '',
      '| competitor | accuracy [95% CI] | F1 | images/s | fallbacks | how it was fed |',
      '|---|---|---|---|---|---|',
      ...rows,
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
