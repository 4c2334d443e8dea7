import path from 'node:path';
import type { Interval } from '../evaluate/bootstrap.js';
import type { Comparison } from '../experiments/compare.js';
import type { CompareRow } from '../experiments/compare-row.js';
import { certainty as certaintyOf, predictedLabel } from '../evaluate/certainty.js';
import type { Evaluation, Prediction } from '../evaluate/evaluate-predictions.js';
import type { BundleManifest } from '../train/bundle.js';
import type { EpochRecord } from '../train/fit.js';
import type { StageTime } from '../train/train-model.js';
import { confusionCells, displayClassName, fineTuneStart, reliabilityPoints, subgroupPoints, type AccuracyBar } from './plot-specs.js';
import { suspectCount, type SuspectGroup } from './suspect-groups.js';
import type { Thumbnail } from './thumbnails.js';

/**
 * The report page as one HTML string: no script, CSS inline, plots as inline SVG, images as
 * data URIs. A Content-Security-Policy that allows only inline styles and data: images makes the
 * browser refuse any fetch, so the page cannot reach the network even if a value slipped in.
 */

/** evaluation.json: an Evaluation plus what runExperiment adds. */
export type RunEvaluation = Evaluation & { times?: StageTime[] | null; features?: { computed: number; cached: number } | null };

export interface LoadedRun {
  dir: string;
  manifest: BundleManifest;
  /** Null when the run folder has no history.json. */
  history: EpochRecord[] | null;
  evaluation: RunEvaluation;
}

/** Rendered SVGs of one run's plots; null where the plot does not apply. */
export interface RunPlots {
  training: string | null;
  threshold: string;
  confusion: string;
  roc: string | null;
  reliability: string;
  subgroups: string | null;
}

/** Thumbnails by the image's path as the split records it (relative to the dataset root). */
export type ThumbnailLookup = (relativePath: string) => Thumbnail | undefined;

export interface ModelReportInput {
  run: LoadedRun;
  plots: RunPlots;
  thumbnail: ThumbnailLookup;
  suspects: SuspectGroup[];
  imageRoot: string;
  /** Images whose thumbnail could not be made, with the reason. */
  missingImages: Array<{ file: string; reason: string }>;
  generatedAt?: string;
}

export interface CompareRun {
  row: CompareRow;
  run: LoadedRun;
  plots: RunPlots;
}

export interface CompareReportInput {
  comparison: Comparison;
  dir: string;
  runs: CompareRun[];
  barsSvg: string;
  bars: AccuracyBar[];
  thumbnail: ThumbnailLookup;
  suspects: SuspectGroup[];
  imageRoot: string;
  missingImages: Array<{ file: string; reason: string }>;
  generatedAt?: string;
}

// ---------------------------------------------------------------- formatting

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}
const e = escapeHtml;

export const pct = (v: number | null | undefined, digits = 2) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(digits)}%`);
const num = (v: number | null | undefined, digits = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
export const ci = (iv: Interval | undefined, asPercent: boolean) => {
  if (!iv) return '—';
  const f = (v: number | null) => (asPercent ? pct(v) : num(v));
  return `${f(iv.value)} <span class="ci">[${f(iv.lo)}, ${f(iv.hi)}]</span>`;
};
const seconds = (s: number) => (s < 10 ? `${s.toFixed(2)} s` : s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);

/** Safe id fragment from any text; a base's sections and galleries in a comparison are named by it. */
export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'x';
}

export function table(head: string[], rows: string[][], options: { caption?: string; rowClass?: (i: number) => string | null; cls?: string } = {}): string {
  const body = rows
    .map((r, i) => {
      const c = options.rowClass?.(i);
      return `<tr${c ? ` class="${c}"` : ''}>${r.map((cell, j) => (j === 0 ? `<th scope="row">${cell}</th>` : `<td>${cell}</td>`)).join('')}</tr>`;
    })
    .join('\n');
  return `<table${options.cls ? ` class="${options.cls}"` : ''}>${options.caption ? `<caption>${options.caption}</caption>` : ''}<thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

/** A plot with its caption and, for screen readers and for copying, the numbers behind it (or a pointer to the table that has them). */
function figure(name: string, svg: string, caption: string, numbers: string): string {
  return `<figure class="plot" data-plot="${e(name)}">
<div class="svg">${svg}</div>
<figcaption>${caption}</figcaption>
${numbers ? `<details><summary>Numbers behind this plot</summary>${numbers}</details>` : '<p class="muted">The numbers behind this plot are in the table below.</p>'}
</figure>`;
}

export function heading(level: number, text: string, id?: string): string {
  const h = Math.min(Math.max(level, 1), 6);
  return `<h${h}${id ? ` id="${e(id)}"` : ''}>${text}</h${h}>`;
}

// ---------------------------------------------------------------- galleries

export interface CardLine {
  text: string;
  cls?: string;
}

export function card(thumbnail: ThumbnailLookup, relPath: string, alt: string, lines: CardLine[], cls: string): string {
  const t = thumbnail(relPath);
  const picture = t
    ? `<img src="${t.dataUri}" width="${t.width}" height="${t.height}" alt="${e(alt)}">`
    : `<div class="noimage" role="img" aria-label="${e(`${alt} (image not found)`)}">image not found</div>`;
  return `<li class="card ${cls}">${picture}${lines.map((l) => `<span class="${l.cls ?? 'line'}">${e(l.text)}</span>`).join('')}<span class="file" title="${e(relPath)}">${e(relPath)}</span></li>`;
}

export function gallery(name: string, cards: string[], empty: string): string {
  if (cards.length === 0) return `<p class="empty" data-gallery-empty="${e(name)}">${empty}</p>`;
  return `<ul class="gallery" data-gallery="${e(name)}">\n${cards.join('\n')}\n</ul>`;
}

/** The study's make_prediction wording, with the run's class names. */
export function predictionText(prob: number, threshold: number, classNames: readonly string[]): { label: string; certainty: string } {
  const k = predictedLabel(prob, threshold);
  return { label: `Prediction: ${displayClassName(classNames[k] ?? `class ${k}`)}`, certainty: `Certainty: ${(certaintyOf(prob, threshold) * 100).toFixed(2)}%` };
}

function predictionCard(p: Prediction, ev: RunEvaluation, thumbnail: ThumbnailLookup): string {
  const cls = (k: number) => displayClassName(ev.classNames[k] ?? `class ${k}`);
  const t = predictionText(p.prob, ev.threshold, ev.classNames);
  const right = p.predicted === p.label;
  return card(
    thumbnail,
    p.path,
    `${p.path}: true ${cls(p.label)}, predicted ${cls(p.predicted)} with ${(p.certainty * 100).toFixed(2)}% certainty${right ? '' : ' (wrong)'}`,
    [{ text: t.label, cls: 'pred' }, { text: t.certainty, cls: 'cert' }, { text: `True: ${cls(p.label)}${right ? '' : ' ✗'}`, cls: right ? 'truth' : 'truth bad' }],
    right ? 'right' : 'wrong',
  );
}

/** Wrong test predictions, most certain first (the study's "misclassified samples"). */
export function misclassified(predictions: readonly Prediction[]): Prediction[] {
  return predictions.filter((p) => p.predicted !== p.label).sort((a, b) => b.certainty - a.certainty || (a.path < b.path ? -1 : 1));
}

function suspectGallery(groups: SuspectGroup[], classNames: readonly string[], thumbnail: ThumbnailLookup, headingLevel: number, idPrefix: string): string {
  const cls = (k: number) => displayClassName(classNames[k] ?? `class ${k}`);
  if (groups.length === 0) return `<p class="empty" data-gallery-empty="${idPrefix}suspects">No image is doubted: no wrong prediction reaches the certainty bar and no identity carries both labels.</p>`;
  const parts = groups.map((g) => {
    const title = g.identity === null ? 'Identity unknown' : `Identity ${e(g.identity)}${g.counts ? ` <span class="muted">(labels: ${[0, 1].filter((k) => (g.counts?.[k] ?? 0) > 0).map((k) => `${g.counts?.[k]} ${e(cls(k))}`).join(', ')})</span>` : ''}`;
    const suspects = g.suspects.map((s) =>
      card(thumbnail, s.path, `${s.path}: labelled ${cls(s.label)}; ${s.reasons.join('; ')}`, [{ text: `Labelled ${cls(s.label)}`, cls: 'truth bad' }, ...s.reasons.map((r) => ({ text: r, cls: 'reason' }))], 'suspect'),
    );
    const refs = g.references.map((r) => card(thumbnail, r.path, `${r.path}: same identity, labelled ${cls(r.label)} (${r.part})`, [{ text: `Same person: ${cls(r.label)}`, cls: 'truth' }], 'reference'));
    return `<section class="suspect-group">${heading(headingLevel, title)}<div class="group-row"><ul class="gallery" data-gallery="${idPrefix}suspects">\n${suspects.join('\n')}\n</ul>${
      refs.length ? `<ul class="gallery refs" data-gallery="${idPrefix}references" aria-label="other images of this identity">\n${refs.join('\n')}\n</ul>` : ''
    }</div></section>`;
  });
  return `<div class="suspect-groups">\n${parts.join('\n')}\n</div>`;
}

// ---------------------------------------------------------------- one run's sections

interface RunContext {
  run: LoadedRun;
  plots: RunPlots;
  thumbnail: ThumbnailLookup;
  /** Heading level of the sections (2 in a model report, 3 inside a comparison). */
  level: number;
  /** Prefix of ids and gallery names, unique per run in one page. */
  prefix: string;
}

function trainingSection({ run, plots, level, prefix }: RunContext): string {
  const h = run.history;
  const t = run.manifest.training;
  const best = Number(t.bestEpoch ?? 0);
  if (!h || h.length === 0 || !plots.training) return `<section>${heading(level, 'Training', `${prefix}training`)}<p>No training history was recorded in this run folder.</p></section>`;
  const start = fineTuneStart(h);
  const last = h[h.length - 1] as EpochRecord;
  const text = [
    `${h.length} epochs run${t.stoppedEarly ? ` before early stopping (patience ${String(t.patience ?? '?')}) ended training at epoch ${last.epoch}` : ''}.`,
    best >= 1 ? `The model keeps the weights of epoch ${best}, the lowest validation loss (dashed red line).` : 'No epoch improved on the starting validation loss; the starting weights were kept.',
    start !== null ? `Fine-tuning of base and head${typeof t.fineTuneBlocks === 'number' ? ` (the base's last ${t.fineTuneBlocks} blocks)` : ''} began at epoch ${start} (solid grey line).` : 'No fine-tuning phase ran.',
  ].join(' ');
  const numbers = table(
    ['epoch', 'phase', 'loss', 'accuracy', 'val loss', 'val accuracy', 'seconds'],
    h.map((r) => [String(r.epoch), r.phase, num(r.loss, 4), num(r.accuracy, 4), num(r.val_loss, 4), num(r.val_accuracy, 4), num(r.seconds, 2)]),
    { rowClass: (i) => (h[i]?.epoch === best ? 'mark' : null), caption: `Training history (the kept epoch ${best} is highlighted)` },
  );
  return `<section>${heading(level, 'Training', `${prefix}training`)}<p>${text}</p>${figure('training', plots.training, 'Loss and accuracy per epoch on the training and validation images (the study\'s first plot).', numbers)}</section>`;
}

function thresholdSection({ run, plots, level, prefix }: RunContext): string {
  const ev = run.evaluation;
  const c = ev.choice;
  const numbers = table(
    ['threshold', 'val accuracy', 'val F1'],
    ev.sweep.map((r) => [num(r.threshold, 2), pct(r.accuracy), num(r.f1)]),
    { rowClass: (i) => (ev.sweep[i]?.threshold === c.threshold ? 'mark' : c.run && (ev.sweep[i]?.threshold ?? -1) >= c.run[0] && (ev.sweep[i]?.threshold ?? 2) <= c.run[1] ? 'band' : null), caption: 'Validation sweep (chosen threshold highlighted)' },
  );
  return `<section>${heading(level, 'Threshold', `${prefix}threshold`)}<p>Chosen threshold <strong>${e(String(c.threshold))}</strong> by the <strong>${e(c.rule)}</strong> rule: ${e(c.reason)}. Validation accuracy there: ${pct(c.accuracy)} (best over the sweep ${pct(c.maxAccuracy)}; best F1 ${num(c.maxF1)}). An image is predicted ${e(displayClassName(ev.classNames[1] ?? 'class 1'))} when its probability is above the threshold.</p>${figure('threshold', plots.threshold, 'Validation accuracy and F1 against the threshold; the red line is the chosen threshold and the shaded band the run of best thresholds it was taken from.', numbers)}</section>`;
}

function testSection({ run, plots, level, prefix }: RunContext): string {
  const ev = run.evaluation;
  const m = ev.ci.metrics;
  const names = ev.classNames.map(displayClassName);
  const metrics = table(
    ['metric', `value [${Math.round(ev.ci.level * 100)}% CI]`],
    [
      ['accuracy', ci(m.accuracy, true)],
      ['precision', ci(m.precision, true)],
      [`recall (${e(names[1] ?? 'class 1')} accuracy)`, ci(m.recall, true)],
      [`specificity (${e(names[0] ?? 'class 0')} accuracy)`, ci(m.specificity, true)],
      ['F1 score', ci(m.f1, false)],
      ['ROC AUC', ci(m.rocAuc, false)],
      ['log loss', ci(m.logLoss, false)],
      ['expected calibration error', ci(m.ece, false)],
    ],
    { caption: `Test metrics on ${ev.test.n} images at threshold ${ev.threshold}; percentile bootstrap intervals from ${ev.ci.resamples} resamples (seed ${ev.ci.seed ?? '—'})`, cls: 'metrics' },
  );
  const cells = confusionCells(ev.test.confusion, ev.classNames);
  const confusionTable = table(
    ['true \\ predicted', ...names.map(e)],
    [0, 1].map((t) => [e(names[t] ?? ''), ...[0, 1].map((p) => String(cells[t * 2 + p]?.count ?? 0))]),
    { caption: 'Confusion matrix (rows: true class, columns: predicted class)' },
  );
  const roc = ev.roc && plots.roc
    ? figure(
        'roc',
        plots.roc,
        `ROC curve of the test probabilities (AUC ${num(ev.test.rocAuc)}); the dashed diagonal is chance.`,
        table(['point', 'false positive rate', 'true positive rate', 'predict Male above'], ev.roc.map((p, i) => [String(i + 1), num(p.fpr, 4), num(p.tpr, 4), p.threshold === null || !Number.isFinite(p.threshold) ? '−∞' : num(p.threshold, 4)])),
      )
    : '<p>No ROC curve: the test set lacks one of the classes.</p>';
  const filled = reliabilityPoints(ev.reliability).length;
  const reliability = figure(
    'reliability',
    plots.reliability,
    `Reliability diagram: in each probability bin, the fraction of ${e(names[1] ?? 'class 1')} images against the mean predicted probability; points on the dashed diagonal are perfectly calibrated (ECE ${num(ev.test.ece)}; ${filled} of ${ev.reliability.length} bins hold images).`,
    table(['bin', 'images', 'mean predicted', 'fraction ' + e(names[1] ?? 'class 1')], ev.reliability.map((b) => [`${num(b.lo, 1)}–${num(b.hi, 1)}`, String(b.count), num(b.meanProb), num(b.fractionPositive)])),
  );
  return `<section>${heading(level, 'Test results', `${prefix}test`)}
<p>Test accuracy <strong>${pct(ev.test.accuracy)}</strong> on ${ev.test.n} images (${ev.test.confusion[0][0] + ev.test.confusion[1][1]} right, ${ev.test.confusion[0][1] + ev.test.confusion[1][0]} wrong). Per class: ${e(names[0] ?? '')} ${pct(ev.test.perClassAccuracy[0])}, ${e(names[1] ?? '')} ${pct(ev.test.perClassAccuracy[1])}. Validation accuracy at the same threshold: ${pct(ev.val.accuracy)}.</p>
${metrics}
<div class="plots">
${figure('confusion', plots.confusion, `Confusion matrix of the ${ev.test.n} test images.`, confusionTable)}
${roc}
${reliability}
</div></section>`;
}

function subgroupSection({ run, plots, level, prefix }: RunContext): string {
  const s = run.evaluation.subgroups;
  if (!s || !plots.subgroups) return `<section>${heading(level, 'Subgroups', `${prefix}subgroups`)}<p>No attribute table came with the dataset, so accuracy per subgroup is not available.</p></section>`;
  const g = s.largestGap;
  const points = subgroupPoints(s);
  const numbers = table(
    ['attribute', 'with: n', 'with: accuracy [95% CI]', 'without: n', 'without: accuracy [95% CI]', 'gap'],
    s.rows.map((r) => [
      e(r.attribute) + (g?.attribute === r.attribute ? ' <strong class="flag">largest gap</strong>' : ''),
      String(r.group.n),
      `${pct(r.group.accuracy)} <span class="ci">[${pct(r.group.lo)}, ${pct(r.group.hi)}]</span>`,
      String(r.complement.n),
      `${pct(r.complement.accuracy)} <span class="ci">[${pct(r.complement.lo)}, ${pct(r.complement.hi)}]</span>`,
      pct(r.gap),
    ]),
    { rowClass: (i) => (s.rows[i]?.attribute === g?.attribute ? 'mark' : null), caption: `Test accuracy by attribute (${s.resamples} bootstrap resamples within each group)` },
  );
  const text = g
    ? `The largest gap is <strong>${e(g.attribute)}</strong>: ${pct(g.groupAccuracy)} with against ${pct(g.complementAccuracy)} without (${pct(g.gap, 1)} apart). Small groups have wide intervals; a gap inside overlapping intervals may be chance.`
    : 'No gap could be measured (a side of every attribute is empty).';
  return `<section>${heading(level, 'Subgroups', `${prefix}subgroups`)}<p>${text}</p>${figure('subgroups', plots.subgroups, `Test accuracy of images with and without each attribute, ${points.length} groups, with 95% intervals; the shaded rows are the largest gap.`, '')}${numbers}</section>`;
}

function factsSection({ run, level, prefix }: RunContext, imageRoot: string): string {
  const m = run.manifest;
  const t = m.training;
  const ev = run.evaluation;
  const split = (t.split ?? {}) as Record<string, unknown>;
  const rows: Array<[string, string]> = [
    ['run folder', e(run.dir)],
    ['dataset', e(String(t.datasetRoot ?? imageRoot))],
    ['split file', e(String(t.splitFile ?? 'not recorded'))],
    ['split', e(`${String(split.train ?? '?')} train / ${String(split.val ?? '?')} val / ${String(split.test ?? '?')} test, ${split.balanced ? 'balanced' : 'stratified'}, ${split.identityDisjoint ? 'identity-disjoint' : 'identities may repeat across parts'}, split seed ${String(split.seed ?? '?')}`)],
    ['base', e(m.base.id)],
    ['architecture', e(m.base.architecture)],
    ['base weights trained on', e(m.base.trainedOn)],
    ['base weights sha256', `<code>${e(m.base.weightsHash)}</code>`],
    ['input', e(`${m.base.inputSize.width}x${m.base.inputSize.height}, ${m.base.preprocess} preprocessing, ${m.base.interpolation} resize${m.base.crop ? `, crop top ${m.base.crop.top} left ${m.base.crop.left} height ${m.base.crop.height} width ${m.base.crop.width}` : ''}`)],
    ['model', e(`${m.modelKind === 'head' ? 'head on the frozen base\'s features' : 'trained end to end'} (${String(t.mode ?? m.modelKind)})`)],
    ['training', e(`up to ${String(t.epochs ?? '?')} epochs, batch ${String(t.batchSize ?? '?')}, Adam lr ${String(t.lr ?? '?')}, early-stopping patience ${String(t.patience ?? '?')}, ${String(t.augmentViews ?? 0)} augmented views${t.drawPlain === false ? ' (plain view not drawn)' : ''}${t.standardize === true ? ', standardised features' : ''}, fine-tune epochs ${String(t.fineTuneEpochs ?? 0)} at lr ${String(t.fineTuneLr ?? '—')}; best epoch ${String(t.bestEpoch ?? '?')}${t.stoppedEarly ? ', stopped early' : ''}`)],
    ['seeds', e(`training ${String(t.seed ?? '?')}, split ${String(split.seed ?? '?')}, bootstrap ${String(ev.ci.seed ?? '—')}`)],
    ['threshold', e(`${m.threshold} (${m.thresholdRule} rule)`)],
    ['features', ev.features ? e(`${ev.features.computed} image views embedded, ${ev.features.cached} from the cache`) : 'not recorded'],
    ['package version', e(`facegender ${m.packageVersion}`)],
    ['machine cores', e(String(t.cores ?? 'not recorded'))],
    ['created', e(m.createdAt)],
  ];
  const times = ev.times?.length
    ? table(['stage', 'seconds'], [...ev.times.map((s) => [e(s.stage), seconds(s.seconds)]), ['total', seconds(ev.times.reduce((a, s) => a + s.seconds, 0))]], { caption: 'Time per stage' })
    : '<p>Stage times were not recorded in this run folder.</p>';
  return `<section>${heading(level, 'Run facts', `${prefix}facts`)}${table(['fact', 'value'], rows.map(([k, v]) => [e(k), v]), { cls: 'facts' })}${times}</section>`;
}

function runSections(ctx: RunContext, suspects: string | null, testGallery: boolean, imageRoot: string): string {
  const ev = ctx.run.evaluation;
  const wrong = misclassified(ev.predictions);
  const g = ctx.level;
  const galleries = [
    testGallery
      ? `${heading(g + 1, `Test predictions (${ev.predictions.length})`, `${ctx.prefix}gallery-test`)}<p>Every test image in split order, with the model's prediction in the study's wording and the true label.</p>${gallery(`${ctx.prefix}test`, ev.predictions.map((p) => predictionCard(p, ev, ctx.thumbnail)), 'The test set is empty.')}`
      : '',
    `${heading(g + 1, `Misclassified (${wrong.length})`, `${ctx.prefix}gallery-wrong`)}<p>Every wrong test prediction, most certain first: at high certainty a wrong prediction is often a wrong label.</p>${gallery(`${ctx.prefix}misclassified`, wrong.map((p) => predictionCard(p, ev, ctx.thumbnail)), 'No test image is misclassified.')}`,
    suspects ?? '',
  ].join('\n');
  return [trainingSection(ctx), thresholdSection(ctx), testSection(ctx), `<section>${heading(g, 'Galleries', `${ctx.prefix}galleries`)}${galleries}</section>`, subgroupSection(ctx), factsSection(ctx, imageRoot)].join('\n');
}

function suspectsBlock(groups: SuspectGroup[], classNames: readonly string[], thumbnail: ThumbnailLookup, level: number, prefix: string, minCertainty: number): string {
  return `${heading(level, `Likely label errors (${suspectCount(groups)})`, `${prefix}gallery-suspects`)}<p>Images the model got wrong with certainty of at least ${pct(minCertainty, 0)} (validation and test), and images whose label disagrees with the other images of the same person (whole split), grouped by identity; other images of the same person are shown beside them when the split file is available.</p>${suspectGallery(groups, classNames, thumbnail, level + 1, prefix)}`;
}

// ---------------------------------------------------------------- pages

const CSS = `
:root{color-scheme:light;--fg:#1b1b1b;--muted:#5f6368;--line:#d9d9d9;--bad:#b3261e;--good:#1e7b34;--mark:#fff3bf}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);margin:0;background:#fff}
main{max-width:1240px;margin:0 auto;padding:1rem 1.5rem 4rem}
h1{font-size:1.7rem;margin:.5rem 0}h2{font-size:1.35rem;margin-top:2.4rem;border-bottom:2px solid var(--line);padding-bottom:.2rem}h3{font-size:1.12rem;margin-top:1.8rem}h4{font-size:1rem;margin:1.2rem 0 .4rem}
nav ul{display:flex;flex-wrap:wrap;gap:.3rem 1rem;padding:0;list-style:none;margin:.5rem 0 1rem}
a{color:#0b57d0}
.muted,.ci{color:var(--muted)}.ci{font-size:.9em}
.summary{font-size:1.05rem;background:#f6f8fa;border:1px solid var(--line);padding:.6rem .9rem;border-radius:6px}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{border:1px solid var(--line);padding:.25rem .55rem;text-align:left;vertical-align:top}
thead th{background:#f2f2f2}
tbody th{font-weight:normal}
tr.mark>*{background:var(--mark)}tr.band>*{background:#fffbe6}tr.skipped>*{color:var(--muted)}
.flag{color:var(--bad)}
table.facts td{max-width:780px;word-break:break-word}
table.compare{width:100%}table.compare td.small{font-size:.8rem;color:var(--muted);max-width:320px}table.compare td{word-break:break-word}
.plots{display:flex;flex-wrap:wrap;gap:1.2rem;align-items:flex-start}
figure.plot{margin:.6rem 0;max-width:100%}
figure.plot .svg svg{max-width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:.88rem;max-width:640px}
details{margin:.3rem 0}details table{font-size:.82rem}
summary{cursor:pointer;color:#0b57d0;font-size:.88rem}
ul.gallery{display:flex;flex-wrap:wrap;gap:.5rem;list-style:none;padding:0;margin:.4rem 0}
li.card{width:122px;border:1px solid var(--line);border-radius:5px;padding:4px;font-size:.68rem;line-height:1.25;display:flex;flex-direction:column;align-items:center;text-align:center}
li.card img,li.card .noimage{width:64px;height:78px;object-fit:contain;background:#eee;margin-bottom:3px}
li.card .noimage{display:flex;align-items:center;justify-content:center;font-size:.65rem;color:var(--muted)}
li.card.wrong,li.card.suspect{border-color:var(--bad);border-width:2px}
li.card.reference{border-style:dashed;background:#fafafa}
li.card .pred{font-weight:600}li.card .bad{color:var(--bad);font-weight:600}
li.card .reason{color:var(--muted);margin-top:2px}
li.card .file{color:var(--muted);font-family:ui-monospace,monospace;font-size:.64rem;word-break:break-all;margin-top:2px}
.suspect-groups{display:flex;flex-wrap:wrap;gap:.8rem;align-items:flex-start}
.suspect-group{border:1px solid var(--line);border-radius:6px;padding:.2rem .6rem .4rem;max-width:100%}
.suspect-group h3,.suspect-group h4,.suspect-group h5{margin:.3rem 0;font-size:.9rem}
.group-row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-start}
.group-row ul.gallery{margin:0}
.warn{background:#fdecea;border:1px solid #f5c2c0;padding:.5rem .8rem;border-radius:6px}
footer{margin-top:3rem;color:var(--muted);font-size:.85rem}
`;

export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<title>${e(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export function missingNote(missing: ReadonlyArray<{ file: string; reason: string }>, imageRoot: string): string {
  if (missing.length === 0) return '';
  const shown = missing.slice(0, 20).map((m) => `<li>${e(m.reason)}</li>`).join('');
  return `<div class="warn" role="note"><strong>${missing.length} image${missing.length === 1 ? '' : 's'} could not be shown</strong> (looked under ${e(imageRoot)}; pass the dataset's new place with --data if it moved):<ul>${shown}</ul>${missing.length > 20 ? `<p>… and ${missing.length - 20} more.</p>` : ''}</div>`;
}

export function footer(generatedAt: string | undefined, source: string, command = 'facegender report'): string {
  return `<footer>Made by <code>${e(command)}</code> from ${e(source)}${generatedAt ? ` on ${e(generatedAt)}` : ''}. The page is self-contained: plots are inline SVG, images are inline thumbnails, and it loads nothing from the network.</footer>`;
}

export function modelReportHtml(input: ModelReportInput): string {
  const { run, plots, thumbnail } = input;
  const ev = run.evaluation;
  const m = ev.ci.metrics;
  const sources = run.manifest.training.sources as Array<{ name: string }> | undefined;
  const dataset = Array.isArray(sources) ? sources.map((x) => x.name).join(' + ') : path.basename(String(run.manifest.training.datasetRoot ?? input.imageRoot));
  const title = `facegender report: ${run.manifest.base.id} on ${dataset}`;
  const ctx: RunContext = { run, plots, thumbnail, level: 2, prefix: '' };
  const body = `<header>${heading(1, e(title))}
<p class="summary">Test accuracy <strong>${ci(m.accuracy, true)}</strong>, F1 ${ci(m.f1, false)}, ROC AUC ${num(m.rocAuc.value)} on ${ev.test.n} test images, at threshold ${e(String(ev.threshold))} (${e(ev.choice.rule)} rule). Base <strong>${e(run.manifest.base.id)}</strong>, ${run.manifest.modelKind === 'head' ? 'head on frozen features' : 'trained end to end'}.</p>
<nav aria-label="Sections"><ul><li><a href="#training">Training</a></li><li><a href="#threshold">Threshold</a></li><li><a href="#test">Test results</a></li><li><a href="#galleries">Galleries</a></li><li><a href="#subgroups">Subgroups</a></li><li><a href="#facts">Run facts</a></li></ul></nav>
${missingNote(input.missingImages, input.imageRoot)}</header>
${runSections(ctx, suspectsBlock(input.suspects, ev.classNames, thumbnail, 3, '', ev.suspects.minCertainty), true, input.imageRoot)}
${footer(input.generatedAt, run.dir)}`;
  return page(title, body);
}

function comparisonTable(c: Comparison): string {
  const head = ['base', 'test accuracy [95% CI]', 'F1 [95% CI]', 'threshold', 'time', 'architecture; weights trained on', 'setup'];
  const rows = c.rows.map((r) => {
    const name = `<th scope="row">${e(r.base)}${r.baseId ? ` <span class="muted">(${e(r.baseId)})</span>` : ''}${r.kind === 'competitor' ? ' <span class="muted">(competitor)</span>' : ''}</th>`;
    if (r.status === 'skipped') return `<tr class="skipped">${name}<td colspan="${head.length - 1}">skipped: ${e(r.reason ?? 'no reason recorded')}</td></tr>`;
    const cells = [ci(r.accuracy, true), ci(r.f1, false), r.threshold === undefined ? '—' : e(String(r.threshold)), r.seconds === undefined ? '—' : seconds(r.seconds), `${e(r.architecture)}; <em>${e(r.weights)}</em>`, e(r.setup ?? '')];
    return `<tr>${name}${cells.map((x, i) => `<td${i >= 4 ? ' class="small"' : ''}>${x}</td>`).join('')}</tr>`;
  });
  return `<table class="compare"><caption>The study's section 6 table on this split (${c.split.test} test images)</caption><thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

function combinedCard(path: string, runs: CompareRun[], byRun: Array<Map<string, Prediction>>, thumbnail: ThumbnailLookup): string {
  const first = runs[0] as CompareRun;
  const classNames = first.run.evaluation.classNames;
  const cls = (k: number) => displayClassName(classNames[k] ?? `class ${k}`);
  let label = -1;
  let anyWrong = false;
  const lines: CardLine[] = [];
  runs.forEach((r, i) => {
    const p = byRun[i]?.get(path);
    if (!p) return;
    label = p.label;
    const right = p.predicted === p.label;
    anyWrong ||= !right;
    lines.push({ text: `${r.row.base}: ${cls(p.predicted)} ${(p.certainty * 100).toFixed(2)}%${right ? '' : ' ✗'}`, cls: right ? 'model' : 'model bad' });
  });
  const alt = `${path}: true ${cls(label)}; ${lines.map((l) => l.text.replace(' ✗', ' (wrong)')).join('; ')}`;
  return card(thumbnail, path, alt, [{ text: `True: ${cls(label)}`, cls: 'truth' }, ...lines], anyWrong ? 'wrong' : 'right');
}

export function compareReportHtml(input: CompareReportInput): string {
  const c = input.comparison;
  const dataset = c.split.name ?? path.basename(c.split.dataset);
  const title = `facegender comparison on ${dataset}`;
  const runs = input.runs;
  const byRun = runs.map((r) => new Map(r.run.evaluation.predictions.map((p) => [p.path, p])));
  const order: string[] = [];
  const seen = new Set<string>();
  for (const r of runs) {
    for (const p of r.run.evaluation.predictions) {
      if (seen.has(p.path)) continue;
      seen.add(p.path);
      order.push(p.path);
    }
  }
  const ok = c.rows.filter((r) => r.status === 'ok');
  const best = ok.reduce<CompareRow | null>((b, r) => ((r.accuracy?.value ?? -1) > (b?.accuracy?.value ?? -1) ? r : b), null);
  const studyTable = table(
    ['base', 'architecture', 'weights', 'accuracy', 'F1'],
    c.study.map((s) => [e(s.base), e(s.architecture), e(s.weights), pct(s.accuracy), num(s.f1)]),
    { caption: "The study's own numbers (Keras, VGG16 at 224 px, its own 750 CelebA test images, not identity-disjoint), for reference only" },
  );
  const barsTable = table(
    ['bar', 'source', 'accuracy', '95% CI'],
    input.bars.map((b) => [e(b.label), e(b.source), b.value === null ? e(b.note ?? '—') : pct(b.value), b.lo === null || b.hi === null ? '—' : `[${pct(b.lo)}, ${pct(b.hi)}]`]),
  );
  const nav = [
    ['comparison', 'Comparison'],
    ['all-predictions', 'Test predictions'],
    ['label-errors', 'Likely label errors'],
    ...runs.map((r) => [`base-${slug(r.row.base)}`, `Base: ${r.row.base}`]),
    ['split-facts', 'Run facts'],
  ];
  const times = c.rows
    .filter((r) => r.times?.length)
    .map((r) => [e(r.base), e((r.times ?? []).map((t) => `${t.stage} ${seconds(t.seconds)}`).join(', ')), r.seconds === undefined ? '—' : seconds(r.seconds)]);
  const minCertainty = runs[0]?.run.evaluation.suspects.minCertainty ?? 0.95;
  const classNames = runs[0]?.run.evaluation.classNames ?? ['female', 'male'];
  const body = `<header>${heading(1, e(title))}
<p class="summary">${c.rows.length} rows on one ${c.split.identityDisjoint ? 'identity-disjoint ' : ''}split of ${e(dataset)} (${c.split.train} train / ${c.split.val} val / ${c.split.test} test, split seed ${c.split.seed}): ${ok.length} evaluated, ${c.rows.length - ok.length} skipped.${best ? ` Best test accuracy: <strong>${e(best.base)}</strong> ${ci(best.accuracy, true)}.` : ''}</p>
<nav aria-label="Sections"><ul>${nav.map(([id, text]) => `<li><a href="#${e(id as string)}">${e(text as string)}</a></li>`).join('')}</ul></nav>
${missingNote(input.missingImages, input.imageRoot)}</header>
<section>${heading(2, 'Comparison', 'comparison')}
<p>Each base was trained and evaluated on the same split; intervals are 95% percentile bootstrap intervals of the test accuracy. A base whose weights are missing is listed as skipped with the reason. Competitors are gender models trained elsewhere, scored on the same test images.</p>
${comparisonTable(c)}
${figure('accuracy-bars', input.barsSvg, 'Test accuracy per base with 95% CI whiskers; grey bars are the study\'s own numbers on its own split, shown for reference, not measured here.', barsTable)}
${studyTable}
</section>
<section>${heading(2, `Test predictions (${order.length})`, 'all-predictions')}<p>Every test image with each base's prediction and certainty; ✗ marks a wrong one.</p>
${runs.length ? gallery('test', order.map((p) => combinedCard(p, runs, byRun, input.thumbnail)), 'The test set is empty.') : '<p>No base was evaluated.</p>'}
</section>
<section id="label-errors">${suspectsBlock(input.suspects, classNames, input.thumbnail, 2, '', minCertainty)}</section>
${runs
  .map((r) => {
    const prefix = `${slug(r.row.base)}-`;
    return `<section class="base">${heading(2, `Base: ${e(r.row.base)}`, `base-${slug(r.row.base)}`)}<p>${e(r.row.architecture)}. Weights trained on: ${e(r.row.weights)}. ${e(r.row.setup ?? '')}</p>
${runSections({ run: r.run, plots: r.plots, thumbnail: input.thumbnail, level: 3, prefix }, null, false, input.imageRoot)}</section>`;
  })
  .join('\n')}
<section>${heading(2, 'Run facts', 'split-facts')}
${table(['fact', 'value'], [
    ['comparison folder', e(input.dir)],
    ['dataset', e(c.split.dataset)],
    ['split', e(`${c.split.train} train / ${c.split.val} val / ${c.split.test} test, ${c.split.identityDisjoint ? 'identity-disjoint' : 'identities may repeat across parts'}, split seed ${c.split.seed}`)],
    ['package version', e(`facegender ${runs[0]?.run.manifest.packageVersion ?? '—'}`)],
    ['machine cores', e(String(runs[0]?.run.manifest.training.cores ?? 'not recorded'))],
    ['total time', seconds(c.seconds)],
  ], { cls: 'facts' })}
${times.length ? table(['base', 'time per stage', 'total'], times, { caption: 'Where the time went' }) : ''}
<p>Each base's own facts (weights hash, seeds, training settings) are in its section.</p>
</section>
${footer(input.generatedAt, input.dir)}`;
  return page(title, body);
}
