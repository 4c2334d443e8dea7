import { describeNonImage, sniffImageFormat } from '../../data/sniff.js';
import { loadWebModel, type WebFace, type WebModel, type WebResult } from '../classify.js';
import { headerSize } from '../image-header.js';
import { renderModelCard } from './model-card-view.js';

/**
 * The exported page's script: it loads the model beside it, classifies a picked, dropped or
 * pasted photo or the webcam's frames, and draws each face's box and label. It only parses input
 * and calls the library (../classify.ts). A `data-state` on <body> (loading, ready, busy, done,
 * error) and each result's data attributes let tests and benchmarks read the page.
 */

/** A decoded 40-megapixel photo already takes 160 MB of canvas memory; the server's limit is the same. */
const MAX_PIXELS = 40_000_000;
const MAX_FILE_BYTES = 50 * 1024 * 1024;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('canvas');
const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
const status = $('status');
const results = $('results');
const fps = $('fps');
const video = $<HTMLVideoElement>('video');
const cameraButton = $<HTMLButtonElement>('camera');
let model: WebModel | undefined;
let stream: MediaStream | null = null;

function setState(state: 'loading' | 'ready' | 'busy' | 'done' | 'error', text: string): void {
  document.body.dataset.state = state;
  status.textContent = text;
  status.className = state === 'error' ? 'error' : '';
}

function colourFor(label: string): string {
  const l = label.toLowerCase();
  return l === 'female' ? '#c026d3' : l === 'male' ? '#0891b2' : '#2563eb';
}

/** The picture with each face's box and label; boxes are in `result`'s pixels. */
function draw(picture: CanvasImageSource, width: number, height: number, result: WebResult | null): void {
  canvas.width = width;
  canvas.height = height;
  ctx.drawImage(picture, 0, 0, width, height);
  if (!result || !result.detect) return;
  const sx = width / result.width;
  const sy = height / result.height;
  const line = Math.max(2, Math.round(Math.max(width, height) / 300));
  const fontSize = Math.max(12, Math.round(Math.max(width, height) / 40));
  ctx.font = `bold ${fontSize}px system-ui, sans-serif`;
  result.faces.forEach((f, i) => {
    const x = f.box.x * sx;
    const y = f.box.y * sy;
    const w = f.box.width * sx;
    const h = f.box.height * sy;
    const colour = colourFor(f.label);
    ctx.lineWidth = line;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    const text = `${result.faces.length > 1 ? `${i + 1}: ` : ''}${f.label} ${(f.certainty * 100).toFixed(1)}%`;
    const tw = ctx.measureText(text).width + 8;
    const ty = y > fontSize + 6 ? y - fontSize - 6 : y + h;
    const tx = Math.max(0, Math.min(x - line / 2, width - tw));
    ctx.fillStyle = colour;
    ctx.fillRect(tx, ty, tw, fontSize + 6);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, tx + 4, ty + fontSize);
  });
}

function listFaces(faces: readonly WebFace[], m: WebModel): void {
  results.textContent = '';
  for (const f of faces) {
    const li = document.createElement('li');
    li.className = 'prediction';
    li.dataset.label = f.label;
    li.dataset.probability = String(f.probability);
    li.textContent = `${f.text} (P(${m.classNames[1]}) = ${f.probability.toFixed(4)}, threshold ${m.threshold})`;
    results.appendChild(li);
  }
}

/** Why a file cannot be classified, in words, or null; read from its first bytes and header only. */
async function refuse(file: Blob & { name?: string }): Promise<string | null> {
  const name = file.name || 'the pasted image';
  if (file.size > MAX_FILE_BYTES) return `${name} is ${(file.size / 1024 / 1024).toFixed(1)} MB, over this page's limit of ${MAX_FILE_BYTES / 1024 / 1024} MB.`;
  const head = new Uint8Array(await file.slice(0, 64 * 1024).arrayBuffer());
  const format = sniffImageFormat(head.subarray(0, 32));
  if (!format) return `${name}: ${describeNonImage(head.subarray(0, 32), file.size)}. Choose a photo (JPEG, PNG, WebP, GIF or AVIF).`;
  const size = headerSize(head, format);
  if (size && size.width * size.height > MAX_PIXELS) return oversize(name, size.width, size.height);
  return null;
}

function oversize(name: string, width: number, height: number): string {
  return `${name}: the image is ${width}x${height} = ${(width * height).toLocaleString('en')} pixels, over this page's limit of ${MAX_PIXELS.toLocaleString('en')}.`;
}

async function classifyFile(file: (Blob & { name?: string }) | undefined | null): Promise<void> {
  if (!file || !model) return;
  stopCamera();
  results.textContent = '';
  const name = file.name || 'the pasted image';
  setState('busy', 'Classifying…');
  const why = await refuse(file);
  if (why) {
    setState('error', why);
    return;
  }
  let bitmap: ImageBitmap;
  try {
    // No colour conversion: the pixels as stored, as sharp reads them in Node.
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    setState('error', `${name}: this browser could not decode the image (truncated or corrupt, or a format it does not read).`);
    return;
  }
  if (bitmap.width * bitmap.height > MAX_PIXELS) {
    setState('error', oversize(name, bitmap.width, bitmap.height));
    return;
  }
  const detect = !$<HTMLInputElement>('crop').checked;
  const result = await model.classifyImage(bitmap, { detect });
  draw(bitmap, bitmap.width, bitmap.height, result);
  listFaces(result.faces, model);
  document.body.dataset.ms = result.ms.toFixed(1);
  if (result.faces.length === 0) setState('done', 'No face found in this photo. If it is already a tight face crop, tick "already a face crop".');
  else setState('done', `${result.faces.length === 1 ? 'One face' : `${result.faces.length} faces, numbered left to right`} (${result.ms.toFixed(0)} ms in this browser).`);
}

function stopCamera(): void {
  if (!stream) return;
  stream.getTracks().forEach((t) => t.stop());
  stream = null;
  cameraButton.textContent = 'Use the webcam';
  fps.textContent = '';
}

/** Classifies frames one after another while the camera runs, showing frames per second over the last 2 s. */
async function cameraLoop(): Promise<void> {
  const times: number[] = [];
  while (stream && model) {
    if (video.readyState < 2) {
      await new Promise((r) => setTimeout(r, 30));
      continue;
    }
    const result = await model.classifyVideoFrame(video);
    // The work above never waits on the event loop (tfjs' wasm answers at once); yield so the page stays responsive.
    await new Promise((r) => setTimeout(r, 0));
    if (!stream) break;
    draw(video, video.videoWidth, video.videoHeight, result);
    listFaces(result.faces, model);
    const now = performance.now();
    times.push(now);
    while (times.length > 2 && now - (times[0] as number) > 2000) times.shift();
    if (times.length >= 2) {
      const rate = ((times.length - 1) * 1000) / (now - (times[0] as number));
      fps.textContent = `Webcam: ${rate.toFixed(1)} frames/s at ${video.videoWidth}x${video.videoHeight}`;
      document.body.dataset.fps = rate.toFixed(2);
    }
    setState('done', result.faces.length === 0 ? 'Webcam: no face in view.' : `Webcam: ${result.faces.map((f) => f.text).join('; ')}`);
  }
}

async function startCamera(): Promise<void> {
  if (stream) {
    stopCamera();
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    const e = err as DOMException;
    const why = e.name === 'NotAllowedError' ? 'permission was denied' : e.name === 'NotFoundError' ? 'no camera was found' : e.message;
    setState('error', `The camera is not available: ${why} (${e.name}). Allow the camera for this page, or choose a photo.`);
    return;
  }
  video.srcObject = stream;
  await video.play();
  cameraButton.textContent = 'Stop the webcam';
  void cameraLoop();
}

function wire(): void {
  $<HTMLInputElement>('file').addEventListener('change', (e) => void classifyFile((e.target as HTMLInputElement).files?.[0]));
  const drop = $('drop');
  for (const t of ['dragenter', 'dragover']) drop.addEventListener(t, (e) => (e.preventDefault(), drop.classList.add('over')));
  for (const t of ['dragleave', 'drop']) drop.addEventListener(t, (e) => (e.preventDefault(), drop.classList.remove('over')));
  drop.addEventListener('drop', (e) => {
    const files = [...((e as DragEvent).dataTransfer?.files ?? [])];
    void classifyFile(files.find((f) => f.type.startsWith('image/')) ?? files[0]);
  });
  document.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.type.startsWith('image/'));
    if (item) void classifyFile(item.getAsFile());
  });
  cameraButton.addEventListener('click', () => void startCamera());
  cameraButton.disabled = !navigator.mediaDevices?.getUserMedia;
}

async function main(): Promise<void> {
  document.body.dataset.state = 'loading';
  if ('serviceWorker' in navigator && location.protocol !== 'file:') navigator.serviceWorker.register('sw.js').catch(() => undefined);
  fetch('model-card.json')
    .then((r) => (r.ok ? r.json() : null))
    .then((card: unknown) => {
      if (card && renderModelCard($('card-body'), card)) $('card').hidden = false;
    })
    .catch(() => undefined);
  try {
    model = await loadWebModel('web-model.json');
  } catch (err) {
    setState('error', `The model could not be loaded: ${(err as Error).message}`);
    return;
  }
  // For benchmarks and tests that drive the page: the loaded model and the loader.
  (globalThis as unknown as { facegender: unknown }).facegender = { model, loadWebModel };
  $('engine').textContent = `Engine: tfjs ${model.backend}.`;
  wire();
  setState('ready', 'Ready: choose, drop or paste a photo, or use the webcam.');
}

void main();
