import type { Split } from '../data/split.js';
import { splitImageFile, splitPart } from '../data/split.js';
import { bootstrapCI } from '../evaluate/bootstrap.js';
import type { CompareRow, Competitor } from './compare-row.js';

/** Scores gender models that ship in packages on the split's test images, with their own preprocessing and threshold. */
export async function scoreCompetitors(split: Split, competitors: Competitor[], options: { resamples?: number; seed?: number } = {}): Promise<CompareRow[]> {
  const test = splitPart(split, 'test');
  const files = test.map((im) => splitImageFile(split, im));
  const labels = Uint8Array.from(test, (im) => im.label);
  const rows: CompareRow[] = [];
  for (const c of competitors) {
    const t0 = performance.now();
    const { probs, threshold, notes } = await c.score(files);
    const ci = bootstrapCI(labels, probs, threshold, { resamples: options.resamples ?? 1000, seed: options.seed ?? 1 });
    rows.push({
      base: c.id,
      kind: 'competitor',
      architecture: c.architecture,
      weights: c.weights,
      status: 'ok',
      accuracy: ci.metrics.accuracy,
      f1: ci.metrics.f1,
      threshold,
      seconds: (performance.now() - t0) / 1000,
      setup: `pretrained gender output, scored on the ${files.length} test images, not trained by us${notes ? `; ${notes}` : ''}`,
    });
  }
  return rows;
}
