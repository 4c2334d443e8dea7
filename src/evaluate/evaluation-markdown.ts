import type { Interval } from './bootstrap.js';
import type { Evaluation } from './evaluate-predictions.js';
import type { LabelledEvaluation } from './evaluate-labelled.js';
import type { CategoryReport } from './subgroups.js';

const pct = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(digits)}%`);
const num = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? '—' : v.toFixed(digits));

export function formatInterval(iv: Interval, asPercent: boolean): string {
  const f = (v: number | null) => (asPercent ? pct(v) : num(v));
  return `${f(iv.value)} [${f(iv.lo)}, ${f(iv.hi)}]`;
}

/** A readable summary of an evaluation, for evaluation.md and the terminal. */
export function evaluationMarkdown(e: Evaluation, title = 'Evaluation'): string {
  const [c0 = 'class 0', c1 = 'class 1'] = e.classNames;
  const m = e.ci.metrics;
  const lines = [
    `# ${title}`,
    '',
    `Threshold **${e.threshold}** (${e.choice.reason})`,
    '',
    `## Test (${e.test.n} images), 95% bootstrap intervals (${e.ci.resamples} resamples, seed ${e.ci.seed})`,
    '',
    '| metric | value [95% CI] |',
    '|---|---|',
    `| accuracy | ${formatInterval(m.accuracy, true)} |`,
    `| precision | ${formatInterval(m.precision, true)} |`,
    `| recall | ${formatInterval(m.recall, true)} |`,
    `| F1 | ${formatInterval(m.f1, false)} |`,
    `| ROC AUC | ${formatInterval(m.rocAuc, false)} |`,
    `| log loss | ${formatInterval(m.logLoss, false)} |`,
    `| expected calibration error | ${formatInterval(m.ece, false)} |`,
    '',
    '### Confusion matrix (rows: true, columns: predicted)',
    '',
    `| | ${c0} | ${c1} |`,
    '|---|---|---|',
    `| ${c0} | ${e.test.confusion[0][0]} | ${e.test.confusion[0][1]} |`,
    `| ${c1} | ${e.test.confusion[1][0]} | ${e.test.confusion[1][1]} |`,
    '',
    `Per-class accuracy: ${c0} ${pct(e.test.perClassAccuracy[0])}, ${c1} ${pct(e.test.perClassAccuracy[1])}. Validation accuracy at this threshold: ${pct(e.val.accuracy)}.`,
    '',
  ];
  if (e.subgroups) {
    lines.push('## Subgroups (test)', '', '| attribute | with: n, accuracy [95% CI] | without: n, accuracy [95% CI] | gap |', '|---|---|---|---|');
    for (const r of e.subgroups.rows) {
      const g = (x: typeof r.group) => `${x.n}, ${pct(x.accuracy)} [${pct(x.lo)}, ${pct(x.hi)}]`;
      lines.push(`| ${r.attribute} | ${g(r.group)} | ${g(r.complement)} | ${pct(r.gap)} |`);
    }
    const gap = e.subgroups.largestGap;
    if (gap) lines.push('', `Largest gap: **${gap.attribute}**, ${pct(gap.groupAccuracy)} with against ${pct(gap.complementAccuracy)} without (${pct(gap.gap)}).`);
    lines.push('');
  }
  if (e.groups) lines.push(...groupsMarkdown(e.groups, e.classNames, '## Per source and group (test)'));
  lines.push(`## Likely label errors`, '', `Wrong with certainty ≥ ${pct(e.suspects.minCertainty, 0)} (validation and test): ${e.suspects.confidentlyWrong.length}`, '');
  for (const s of e.suspects.confidentlyWrong) {
    lines.push(`- ${s.part} ${s.path}: labelled ${e.classNames[s.label]}, predicted ${e.classNames[s.predicted]} with ${pct(s.certainty)}`);
  }
  const ic = e.suspects.identityConflicts;
  if (ic) {
    lines.push('', `Labels that disagree with their identity's majority (whole split): ${ic.counts.minority} minority, ${ic.counts.tie} in evenly split identities (${ic.counts.mixedIdentities} identities carry both labels).`);
    for (const s of ic.minority) lines.push(`- ${s.path}: labelled ${e.classNames[s.label]}; identity ${s.identity} has ${s.identityCounts[0]} ${c0} / ${s.identityCounts[1]} ${c1}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Accuracy per value of each categorical column (source, ethnicity…), with intervals, per-class accuracy and the largest gap. */
export function groupsMarkdown(report: CategoryReport, classNames: readonly string[], heading: string): string[] {
  const [c0 = 'class 0', c1 = 'class 1'] = classNames;
  const lines = [heading, ''];
  for (const c of report.columns) {
    lines.push(`### ${c.column} (${c.n} images)`, '', `| ${c.column} | n | accuracy [95% CI] | ${c0} | ${c1} |`, '|---|---|---|---|---|');
    for (const g of c.groups) {
      const cls = (x: { n: number; accuracy: number | null }) => `${pct(x.accuracy)} (${x.n})`;
      lines.push(`| ${g.value} | ${g.n} | ${pct(g.accuracy)} [${pct(g.lo)}, ${pct(g.hi)}] | ${cls(g.perClass.female)} | ${cls(g.perClass.male)} |`);
    }
    if (c.best && c.worst) {
      lines.push('', c.gap === 0 ? `No gap: every value at ${pct(c.best.accuracy)}.` : `Gap: ${pct(c.gap)} between ${c.best.value} (${pct(c.best.accuracy)}) and ${c.worst.value} (${pct(c.worst.accuracy)}).`);
    }
    lines.push('');
  }
  const gap = report.largestGap;
  if (gap && report.columns.length > 1) lines.push(`Largest gap: **${gap.column}**, ${gap.best.value} ${pct(gap.best.accuracy)} against ${gap.worst.value} ${pct(gap.worst.accuracy)} (${pct(gap.gap)}).`, '');
  return lines;
}

/** A readable summary of an evaluation on labelled photos (`evaluate --data`). */
export function labelledEvaluationMarkdown(e: LabelledEvaluation, title: string, facts: string[] = []): string {
  const [c0 = 'class 0', c1 = 'class 1'] = e.classNames;
  const m = e.metrics;
  const count = (iv: Interval) => `${iv.value ?? '—'} [${iv.lo ?? '—'}, ${iv.hi ?? '—'}]`;
  const row = (t: number, name: string) => `| ${name} | ${(e.confusion[t] ?? []).map(count).join(' | ')} |`;
  const lines = [
    `# ${title}`,
    '',
    ...facts.map((f) => `- ${f}`),
    ...(facts.length ? [''] : []),
    `${e.n} photos at threshold **${e.threshold}**; ${e.noFace} gave no face (counted as errors)${e.severalFaces ? `, ${e.severalFaces} had several faces (the surest was classified)` : ''}.`,
    '',
    `## Metrics, ${Math.round(e.level * 100)}% bootstrap intervals (${e.resamples} resamples, seed ${e.seed})`,
    '',
    '| metric | value [95% CI] |',
    '|---|---|',
    `| accuracy | ${formatInterval(m.accuracy, true)} |`,
    `| precision (${c1}) | ${formatInterval(m.precision, true)} |`,
    `| recall (${c1} accuracy) | ${formatInterval(m.recall, true)} |`,
    `| specificity (${c0} accuracy) | ${formatInterval(m.specificity, true)} |`,
    `| F1 | ${formatInterval(m.f1, false)} |`,
    `| no face found | ${formatInterval(m.noFaceRate, true)} |`,
    `| accuracy where a face was found | ${e.faceAccuracy ? formatInterval(e.faceAccuracy, true) : '—'} |`,
    '',
    '### Confusion matrix (rows: true, columns: predicted; counts [95% CI])',
    '',
    `| | ${c0} | ${c1} | no face |`,
    '|---|---|---|---|',
    row(0, c0),
    row(1, c1),
    '',
  ];
  if (e.groups) lines.push(...groupsMarkdown(e.groups, e.classNames, '## Groups (a photo without a face counts as an error)'));
  return lines.join('\n');
}
