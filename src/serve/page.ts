import { createHash } from 'node:crypto';
import { escapeHtml, modelStatementHtml } from '../predict/model-statement.js';

/**
 * The single page `GET /` serves: pick, drop or paste a photo, or take one with the webcam; the
 * page posts it to /api/predict and draws each face's box and label on it. Inline CSS and JS, no
 * external assets, so it works offline; the Content-Security-Policy allows exactly these two
 * inline blocks by their hashes.
 */

const STYLE = `
:root { color-scheme: light dark; --accent: #2563eb; --female: #c026d3; --male: #0891b2; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 1.5rem; max-width: 60rem; margin-inline: auto; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
.muted { opacity: .75; font-size: .9rem; }
#drop { border: 2px dashed #888; border-radius: .75rem; padding: 1.25rem; text-align: center; margin: 1rem 0; }
#drop.over { border-color: var(--accent); background: color-mix(in srgb, var(--accent) 10%, transparent); }
button, label.button { font: inherit; padding: .4rem .9rem; border-radius: .5rem; border: 1px solid #888; background: transparent; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
.row { display: flex; gap: .75rem; flex-wrap: wrap; align-items: center; justify-content: center; }
#stage { position: relative; display: inline-block; max-width: 100%; }
#canvas { max-width: 100%; height: auto; display: block; }
#video { max-width: 100%; display: none; border-radius: .5rem; }
#status { min-height: 1.5rem; }
#results { padding-left: 1.75rem; }
#results li { margin: .2rem 0; }
.error { color: #dc2626; }
.about { border-left: 4px solid #888; padding: .25rem 1rem; margin-top: 2rem; }
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const canvas = $('canvas'), ctx = canvas.getContext('2d');
const status = $('status'), results = $('results'), video = $('video');
let stream = null;

function setStatus(text, isError) {
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

async function loadBitmap(blob) {
  // createImageBitmap honours EXIF orientation like the server does.
  return await createImageBitmap(blob, { imageOrientation: 'from-image' });
}

function colourFor(label) {
  return label.toLowerCase() === 'female' ? '#c026d3' : label.toLowerCase() === 'male' ? '#0891b2' : '#2563eb';
}

function draw(bitmap, faces, scaleX, scaleY) {
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  ctx.drawImage(bitmap, 0, 0);
  const line = Math.max(2, Math.round(Math.max(bitmap.width, bitmap.height) / 300));
  const fontSize = Math.max(12, Math.round(Math.max(bitmap.width, bitmap.height) / 40));
  ctx.font = 'bold ' + fontSize + 'px system-ui, sans-serif';
  faces.forEach((f, i) => {
    const x = f.box.x * scaleX, y = f.box.y * scaleY, w = f.box.width * scaleX, h = f.box.height * scaleY;
    const colour = colourFor(f.label);
    ctx.lineWidth = line;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    const text = (faces.length > 1 ? (i + 1) + ': ' : '') + f.label + ' ' + (f.certainty * 100).toFixed(1) + '%';
    const tw = ctx.measureText(text).width + 8;
    const ty = y > fontSize + 6 ? y - fontSize - 6 : y + h;
    const tx = Math.max(0, Math.min(x - line / 2, bitmap.width - tw));
    ctx.fillStyle = colour;
    ctx.fillRect(tx, ty, tw, fontSize + 6);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, tx + 4, ty + fontSize);
  });
}

async function classify(blob) {
  results.textContent = '';
  if (!blob) return;
  setStatus('Classifying…');
  let bitmap = null;
  try { bitmap = await loadBitmap(blob); } catch { bitmap = null; }
  if (bitmap) draw(bitmap, [], 1, 1);
  const crop = $('crop').checked;
  let response, body;
  if ($('local') && $('local').checked) {
    try {
      body = await classifyHere(blob, crop);
    } catch (err) {
      setStatus('Could not classify in this browser: ' + err.message, true);
      return;
    }
    showFaces(bitmap, body, ' Classified in this browser; nothing was uploaded.');
    return;
  }
  try {
    response = await fetch('api/predict' + (crop ? '?detect=false' : ''), {
      method: 'POST',
      headers: { 'Content-Type': blob.type || 'application/octet-stream' },
      body: blob,
    });
    body = await response.json();
  } catch (err) {
    setStatus('The server did not answer: ' + err.message, true);
    return;
  }
  if (!response.ok) {
    setStatus('Error ' + response.status + ': ' + (body && body.error ? body.error : response.statusText), true);
    return;
  }
  showFaces(bitmap, body, '');
}

// The model's browser copy (served under web/), loaded on first use: the photo never leaves the page.
let localModel = null;
async function classifyHere(blob, crop) {
  const lib = await import('./web/facegender-lib.js');
  localModel = localModel || await lib.loadWebModel('web/web-model.json');
  const bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const r = await localModel.classifyImage(bitmap, { detect: !crop });
  return { faces: r.faces, width: r.width, height: r.height, classNames: localModel.classNames, threshold: localModel.threshold };
}

function showFaces(bitmap, body, where) {
  if (bitmap) draw(bitmap, body.faces, bitmap.width / body.width, bitmap.height / body.height);
  if (body.faces.length === 0) {
    setStatus('No face found in this photo. If it is already a tight face crop, tick "already a face crop".' + where);
    return;
  }
  setStatus((body.faces.length === 1 ? 'One face.' : body.faces.length + ' faces, numbered left to right.') + where);
  body.faces.forEach((f) => {
    const li = document.createElement('li');
    li.className = 'prediction';
    li.textContent = f.text +
      ' (P(' + body.classNames[1] + ') = ' + f.probability.toFixed(4) + ', threshold ' + body.threshold + ')';
    results.appendChild(li);
  });
}

$('file').addEventListener('change', (e) => classify(e.target.files[0]));
const drop = $('drop');
['dragenter', 'dragover'].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add('over'); }));
['dragleave', 'drop'].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove('over'); }));
drop.addEventListener('drop', (e) => {
  const file = [...e.dataTransfer.files].find((f) => f.type.startsWith('image/')) || e.dataTransfer.files[0];
  classify(file);
});
document.addEventListener('paste', (e) => {
  const item = [...e.clipboardData.items].find((i) => i.type.startsWith('image/'));
  if (item) classify(item.getAsFile());
});

$('camera').addEventListener('click', async () => {
  if (stream) {
    const c = document.createElement('canvas');
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.style.display = 'none';
    $('camera').textContent = 'Use the webcam';
    c.toBlob((blob) => classify(blob), 'image/jpeg', 0.92);
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    setStatus('No webcam available: ' + err.message, true);
    return;
  }
  video.srcObject = stream;
  video.style.display = 'block';
  await video.play();
  $('camera').textContent = 'Take the photo';
});
if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) $('camera').disabled = true;

fetch('api/model').then((r) => r.json()).then((m) => {
  $('model').textContent = m.id + ' (' + m.base + ' base, threshold ' + m.threshold + ')';
}).catch(() => {});
`;


const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** CSP for the page: its own inline style and script, images from blobs, requests to itself only. */
export const PAGE_CSP = [
  "default-src 'none'",
  // 'self' and wasm: the in-browser mode imports web/facegender-lib.js, which runs tfjs' wasm (and its thread workers, from blobs),
  // and starts web/facegender-worker.js, the worker that shares the base's work.
  `script-src ${hash(SCRIPT)} 'self' 'wasm-unsafe-eval' blob:`,
  "worker-src 'self' blob:",
  `style-src ${hash(STYLE)}`,
  'img-src blob: data:',
  'media-src blob: mediastream:',
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface PageFacts {
  modelId: string;
  classNames: readonly string[];
  bodyLimitMb: number;
  /** The model's browser copy is served under /web/: offer to classify in the browser. */
  inBrowser?: boolean;
}

export function renderPage(facts: PageFacts): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>facegender</title>
<style>${STYLE}</style>
</head>
<body>
<h1>facegender</h1>
<p class="muted">Model: <span id="model">${escapeHtml(facts.modelId)}</span></p>
<div id="drop">
  <p>Drop a photo here, paste one (Ctrl+V), or</p>
  <div class="row">
    <label class="button">Choose a photo <input id="file" type="file" accept="image/*" hidden></label>
    <button id="camera" type="button">Use the webcam</button>
  </div>
  <p class="muted"><label><input id="crop" type="checkbox"> already a face crop framed like CelebA's (skip detection)</label></p>
${facts.inBrowser ? '<p class="muted"><label><input id="local" type="checkbox"> classify in this browser, nothing is uploaded</label></p>' : ''}
  <p class="muted">JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF, up to ${facts.bodyLimitMb} MB. The photo is classified on this server and not kept.</p>
</div>
<video id="video" playsinline muted></video>
<p id="status" role="status"></p>
<div id="stage"><canvas id="canvas" width="0" height="0"></canvas></div>
<ol id="results"></ol>
${modelStatementHtml(facts.classNames)}
<script>${SCRIPT}</script>
</body>
</html>
`;
}
