import path from 'node:path';
import type { LabelledPrediction } from '../evaluate/evaluate-labelled.js';
import { folderEvaluationFacts, type FolderEvaluation } from '../experiments/evaluate-folder.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { displayClassName } from './plot-specs.js';
import { card, ci, escapeHtml as e, footer, gallery, heading, missingNote, page, pct, table, type ThumbnailLookup } from './report-html.js';
import { makeThumbnails, type ThumbnailOptions } from './thumbnails.js';

/** The page of `facegender evaluate --data … --html`, beside evaluation.json. */
export const LABELLED_REPORT_FILE = 'report.html';

export interface LabelledReportInput {
  evaluation: FolderEvaluation;
  thumbnail: ThumbnailLookup;
  missingImages: Array<{ file: string; reason: string }>;
  generatedAt?: string;
}

function predictionCard(p: LabelledPrediction, ev: FolderEvaluation, thumbnail: ThumbnailLookup): string {
  const cls = (k: number) => displayClassName(ev.classNames[k] ?? `class ${k}`);
  if (p.predicted === null) {
    return card(thumbnail, p.path, `${p.path}: true ${cls(p.label)}, no face found`, [{ text: 'No face found', cls: 'pred' }, { text: `True: ${cls(p.label)} ✗`, cls: 'truth bad' }], 'wrong');
  }
  const lines = [
    { text: `Prediction: ${cls(p.predicted)}`, cls: 'pred' },
    { text: `Certainty: ${((p.certainty ?? 0) * 100).toFixed(2)}%`, cls: 'cert' },
    { text: `True: ${cls(p.label)}${p.correct ? '' : ' ✗'}`, cls: p.correct ? 'truth' : 'truth bad' },
    ...(p.faces > 1 ? [{ text: `${p.faces} faces; the surest classified`, cls: 'reason' }] : []),
  ];
  return card(thumbnail, p.path, `${p.path}: true ${cls(p.label)}, predicted ${cls(p.predicted)}${p.correct ? '' : ' (wrong)'}`, lines, p.correct ? 'right' : 'wrong');
}

/** One self-contained page: the metrics and confusion matrix with intervals, accuracy per group, and galleries of the mistakes and of the photos without a face. */
export function labelledReportHtml(input: LabelledReportInput): string {
  const ev = input.evaluation;
  const m = ev.metrics;
  const names = ev.classNames.map(displayClassName);
  const title = `facegender evaluation: ${ev.model.base} on ${path.basename(ev.data.root)}`;
  const level = `${Math.round(ev.level * 100)}% CI`;
  const metrics = table(
    ['metric', `value [${level}]`],
    [
      ['accuracy', ci(m.accuracy, true)],
      [`precision (${e(names[1] ?? '')})`, ci(m.precision, true)],
      [`recall (${e(names[1] ?? '')} accuracy)`, ci(m.recall, true)],
      [`specificity (${e(names[0] ?? '')} accuracy)`, ci(m.specificity, true)],
      ['F1 score', ci(m.f1, false)],
      ['no face found', ci(m.noFaceRate, true)],
      ['accuracy where a face was found', ev.faceAccuracy ? ci(ev.faceAccuracy, true) : '—'],
    ],
    { caption: `${ev.n} photos at threshold ${ev.threshold}; a photo without a face counts as an error; percentile bootstrap intervals from ${ev.resamples} resamples (seed ${ev.seed})`, cls: 'metrics' },
  );
  const count = (iv: { value: number | null; lo: number | null; hi: number | null } | undefined) => (iv ? `${iv.value ?? '—'} <span class="ci">[${iv.lo ?? '—'}, ${iv.hi ?? '—'}]</span>` : '—');
  const confusion = table(
    ['true \\ predicted', ...names.map(e), 'no face'],
    [0, 1].map((t) => [e(names[t] ?? ''), ...[0, 1, 2].map((p) => count(ev.confusion[t]?.[p]))]),
    { caption: `Confusion matrix (rows: true class; counts with ${level})` },
  );
  const groups = ev.groups
    ? ev.groups.columns
        .map((c) => {
          const rows = c.groups.map((g) => [
            e(g.value) + (c.gap && c.worst?.value === g.value ? ' <strong class="flag">lowest</strong>' : ''),
            String(g.n),
            `${pct(g.accuracy)} <span class="ci">[${pct(g.lo)}, ${pct(g.hi)}]</span>`,
            `${pct(g.perClass.female.accuracy)} (${g.perClass.female.n})`,
            `${pct(g.perClass.male.accuracy)} (${g.perClass.male.n})`,
          ]);
          const gap = c.gap === 0 && c.best ? `<p>No gap: every value at ${pct(c.best.accuracy)}.</p>` : c.best && c.worst ? `<p>Gap ${pct(c.gap)}: ${e(c.best.value)} ${pct(c.best.accuracy)} against ${e(c.worst.value)} ${pct(c.worst.accuracy)}. Small groups have wide intervals; a gap inside overlapping intervals may be chance.</p>` : '';
          return `${heading(3, e(c.column), `group-${e(c.column)}`)}${table([e(c.column), 'n', `accuracy [${level}]`, e(names[0] ?? ''), e(names[1] ?? '')], rows, { caption: `Accuracy per ${e(c.column)} (${c.n} photos)`, rowClass: (i) => (c.gap && c.groups[i]?.value === c.worst?.value ? 'mark' : null) })}${gap}`;
        })
        .join('\n')
    : '<p>No --group-by column was asked for.</p>';
  const wrong = ev.predictions.filter((p) => !p.correct && p.predicted !== null).sort((a, b) => (b.certainty ?? 0) - (a.certainty ?? 0));
  const noFace = ev.predictions.filter((p) => p.predicted === null);
  const facts = table(['fact', 'value'], folderEvaluationFacts(ev).map((f) => {
    const at = f.indexOf(': ');
    return [e(f.slice(0, at)), e(f.slice(at + 2))];
  }), { cls: 'facts' });
  const body = `<header>${heading(1, e(title))}
<p class="summary">Accuracy <strong>${ci(m.accuracy, true)}</strong>, F1 ${ci(m.f1, false)} on ${ev.n} photos; ${ev.noFace} gave no face and count as errors.</p>
${missingNote(input.missingImages, ev.data.root)}</header>
<section>${heading(2, 'Results', 'results')}${metrics}${confusion}</section>
<section>${heading(2, 'Groups', 'groups')}${groups}</section>
<section>${heading(2, 'Galleries', 'galleries')}
${heading(3, `Misclassified (${wrong.length})`, 'gallery-wrong')}${gallery('misclassified', wrong.map((p) => predictionCard(p, ev, input.thumbnail)), 'No photo with a face is misclassified.')}
${heading(3, `No face found (${noFace.length})`, 'gallery-noface')}${gallery('no-face', noFace.map((p) => predictionCard(p, ev, input.thumbnail)), 'A face was found in every photo.')}
</section>
<section>${heading(2, 'Facts', 'facts')}${facts}</section>
${footer(input.generatedAt, ev.data.root, 'facegender evaluate')}`;
  return page(title, body);
}

/** Writes the page (with thumbnails of the photos it shows) to `file`, through a temp file. */
export async function writeLabelledReport(evaluation: FolderEvaluation, file: string, options: { thumbnails?: ThumbnailOptions } = {}): Promise<{ file: string; bytes: number; thumbnails: number; galleries: Record<string, number> }> {
  const shown = evaluation.predictions.filter((p) => !p.correct);
  const fileOf = (rel: string) => path.join(evaluation.data.root, rel);
  const set = await makeThumbnails(shown.map((p) => fileOf(p.path)), options.thumbnails);
  const html = labelledReportHtml({ evaluation, thumbnail: (rel) => set.thumbnails.get(fileOf(rel)), missingImages: set.failed, generatedAt: new Date().toISOString() });
  await writeFileAtomically(file, html);
  const noFace = shown.filter((p) => p.predicted === null).length;
  return { file: path.resolve(file), bytes: Buffer.byteLength(html), thumbnails: set.thumbnails.size, galleries: { misclassified: shown.length - noFace, 'no-face': noFace } };
}
