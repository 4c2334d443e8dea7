import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { FacegenderError } from '../errors.js';

/**
 * The report's specs carry their data inline; a loader that refuses everything makes sure a spec
 * that asks for a URL fails at build time instead of making a page that fetches at view time.
 * Vega only logs a failed load (and draws the plot empty), so the refusals are recorded here.
 */
function refusingLoader(refused: string[]): vega.Loader {
  const refuse = (what: string) => async (uri: string): Promise<never> => {
    refused.push(`${what} "${uri}"`);
    throw new FacegenderError(`a report plot asked to ${what} "${uri}"`);
  };
  return { load: refuse('load'), sanitize: refuse('link to'), http: refuse('fetch'), file: refuse('read') };
}

export interface RenderOptions {
  /**
   * Prefix for the SVG's element ids (legend gradients, clip paths). SVGs inlined in one page
   * share one id space; vega's counters keep ids apart within one process only, so a prefix per
   * plot keeps them apart whatever rendered them.
   */
  idPrefix?: string;
}

/**
 * Renders a Vega-Lite spec to an SVG string in Node: Vega's headless view with no renderer
 * measures text by estimate (no canvas package needed) and writes text as <text>, so the SVG
 * needs no font files.
 */
export async function renderSvg(spec: TopLevelSpec, options: RenderOptions = {}): Promise<string> {
  const errors: string[] = [];
  const refused: string[] = [];
  const logger = vega.logger(vega.Error, undefined, (_method, _level, args) => errors.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')));
  const compiled = compile(spec, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: refusingLoader(refused), logger, logLevel: vega.Error });
  try {
    let svg = await view.toSVG();
    if (refused.length) throw new FacegenderError(`a report plot asked to ${refused.join(', ')}; plots must carry their data inline`);
    if (errors.length) throw new FacegenderError(`a report plot failed to render: ${errors[0]}`);
    if (options.idPrefix) svg = prefixIds(svg, options.idPrefix);
    const description = (spec as { description?: unknown }).description;
    return typeof description === 'string' ? labelSvg(svg, description) : svg;
  } finally {
    view.finalize();
  }
}

/**
 * Makes the SVG one image to assistive technology, described by the spec's description (vega
 * labels the marks but leaves the root without a name).
 */
export function labelSvg(svg: string, label: string): string {
  const text = label.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
  return svg.replace(/<svg\b([^>]*)>/, (_, attrs: string) => `<svg${attrs} role="img" aria-label="${text}"><title>${text}</title>`);
}

/** Renames every id="x" to id="<prefix>x" and rewrites the url(#x) / href="#x" that point at them. */
export function prefixIds(svg: string, prefix: string): string {
  if (!/^[A-Za-z][\w-]*$/.test(prefix)) throw new FacegenderError(`svg id prefix "${prefix}" must be a letter followed by letters, digits, _ or -`);
  const ids = new Set<string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) ids.add(m[1] as string);
  if (ids.size === 0) return svg;
  return svg
    .replace(/(\sid=")([^"]+)"/g, (_, head: string, id: string) => `${head}${prefix}${id}"`)
    .replace(/url\(#([^)]+)\)/g, (whole, id: string) => (ids.has(id) ? `url(#${prefix}${id})` : whole))
    .replace(/(href=")#([^"]+)"/g, (whole, head: string, id: string) => (ids.has(id) ? `${head}#${prefix}${id}"` : whole));
}

/** Width and height attributes of an SVG's root element (0 when absent). */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const attr = (name: string) => Number(new RegExp(`\\s${name}="([\\d.]+)"`).exec(root)?.[1] ?? 0);
  return { width: attr('width'), height: attr('height') };
}
