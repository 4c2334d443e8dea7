/**
 * The plain-words statement of what a model can and cannot tell, in HTML: every page that
 * classifies faces shows it (serve's page, the exported browser page).
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export function modelStatementHtml(classNames: readonly string[]): string {
  const [c0 = 'class 0', c1 = 'class 1'] = classNames.map(escapeHtml);
  return `<section class="about">
<h2>What this model can and cannot tell</h2>
<p>It finds each face, cuts it out the way the CelebA photos it learned from are framed, and gives one of two labels,
<strong>${c0}</strong> or <strong>${c1}</strong>, with the model's probability for that label.</p>
<p>The labels are CelebA's annotations of celebrity photos: what annotators recorded about how each person looked. So
the model predicts how such an annotator would have labelled the face. It does not know a person's gender identity,
it does not recognise who anyone is, and it has no "neither" or "not sure" answer: every face gets one of the two
labels, even a statue, a drawing or a child. It is likely to err more often on faces unlike CelebA's frontal,
well-lit celebrity photos (children, side views, poor light, heavy occlusion); the model's report lists the error rates
measured on CelebA's subgroups. A high certainty does not make a label true.
Do not use it to decide anything about a person.</p>
</section>`;
}
