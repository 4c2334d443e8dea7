import { escapeHtml, modelStatementHtml } from '../predict/model-statement.js';
import { WEB_SCRIPT_FILE } from './web-model.js';

/**
 * The exported site's index.html: what serve's page offers (pick, drop or paste a photo; the
 * webcam with live boxes and labels; the study's text per face; what the model can and cannot
 * tell), with the model card below, all computed in the page by its one script.
 */

const STYLE = `
:root { color-scheme: light dark; --accent: #2563eb; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; padding: 1.5rem; max-width: 60rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
.muted { opacity: .75; font-size: .9rem; }
#drop { border: 2px dashed #888; border-radius: .75rem; padding: 1rem; text-align: center; margin: 1rem 0; }
#drop.over { border-color: var(--accent); }
button, label.button { font: inherit; padding: .4rem .9rem; border-radius: .5rem; border: 1px solid #888; background: transparent; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
.row { display: flex; gap: .75rem; flex-wrap: wrap; align-items: center; justify-content: center; }
#canvas { max-width: 100%; height: auto; display: block; }
#status { min-height: 1.5rem; }
#status.error { color: #dc2626; }
#results li { margin: .2rem 0; }
.about, #card { border-left: 4px solid #888; padding: .25rem 1rem; margin-top: 2rem; }
#card table { border-collapse: collapse; font-size: .9rem; }
#card td, #card th { padding: .1rem .6rem; text-align: left; border-bottom: 1px solid #8884; }
`;

/**
 * Only the page's own origin: its script, its weights and wasm (which needs 'wasm-unsafe-eval'),
 * blobs for the photo and camera. A fetch anywhere else is refused by the browser.
 */
export const WEB_PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export interface WebPageFacts {
  modelId: string;
  classNames: readonly string[];
}

export function renderWebPage(facts: WebPageFacts): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${WEB_PAGE_CSP}">
<title>facegender: ${escapeHtml(facts.modelId)}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<h1>facegender</h1>
<p class="muted">Model: <span id="model">${escapeHtml(facts.modelId)}</span>. Everything runs in this browser: no photo or frame is uploaded. <span id="engine"></span></p>
<div id="drop">
  <p>Drop a photo here, paste one (Ctrl+V), or</p>
  <div class="row">
    <label class="button">Choose a photo <input id="file" type="file" accept="image/*" hidden></label>
    <button id="camera" type="button" disabled>Use the webcam</button>
  </div>
  <p class="muted"><label><input id="crop" type="checkbox"> already a face crop framed like CelebA's (skip detection)</label></p>
</div>
<p id="status" role="status">Loading the model…</p>
<p id="fps" class="muted"></p>
<canvas id="canvas" width="0" height="0"></canvas>
<video id="video" playsinline muted hidden></video>
<ol id="results"></ol>
${modelStatementHtml(facts.classNames)}
<section id="card" hidden><h2>Model card</h2><div id="card-body"></div></section>
<script type="module" src="${WEB_SCRIPT_FILE}"></script>
</body>
</html>
`;
}
