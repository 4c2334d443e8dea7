/**
 * Measures where CelebA's alignment puts the eyes, nose and mouth in its 178x218 frame, the
 * numbers behind CELEBA_FACE_TEMPLATE in src/data/face-align.ts.
 *
 * Each dataset image (an 89x109 aligned crop) is upscaled to 178x218, padded with repeated edge
 * pixels (the detector misses faces that fill the image), and run through face-api's SSD and
 * 68-point landmark nets; the five points of the best face are taken back to frame fractions.
 *
 *   npx tsx bench/face-framing.ts [--per-class 500] [--pad 64] [--data ../shared/datasets/celeba-10k]
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSsdDetector as loadFaceDetector } from '../src/detect/ssd-detector.js';
import { decodeImage } from '../src/data/decode.js';
import { CELEBA_FRAME, fivePoints, type Point } from '../src/data/face-align.js';
import { padImage } from '../src/data/pad-image.js';

const { values } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '500' },
    pad: { type: 'string', default: '64' },
    data: { type: 'string', default: path.resolve('../shared/datasets/celeba-10k') },
  },
});
const perClass = Number(values['per-class']);
const pad = Number(values.pad);
const data = values.data as string;

const files: string[] = [];
for (const cls of ['female', 'male']) {
  const names = (await readdir(path.join(data, cls))).filter((n) => n.endsWith('.jpg')).sort();
  files.push(...names.slice(0, perClass).map((n) => path.join(data, cls, n)));
}

const detector = await loadFaceDetector();
const { width: W, height: H } = CELEBA_FRAME;
const found: Point[][] = [];
let missed = 0;
const t0 = performance.now();
for (let start = 0; start < files.length; start += 8) {
  const chunk = files.slice(start, start + 8);
  const images = await Promise.all(chunk.map(async (f) => padImage(await decodeImage(f, { size: CELEBA_FRAME }), pad, 'edge')));
  const faces = await detector.detect(images);
  for (const list of faces) {
    // The aligned face is the one nearest the frame's centre; a second face at the border is rare.
    const centre = { x: pad + W / 2, y: pad + H / 2 };
    const best = list
      .map((f) => ({ f, d: Math.hypot(f.box.x + f.box.width / 2 - centre.x, f.box.y + f.box.height / 2 - centre.y) }))
      .sort((a, b) => a.d - b.d)[0];
    if (!best) {
      missed++;
      continue;
    }
    found.push(fivePoints(best.f.landmarks).map((p) => ({ x: (p.x - pad) / W, y: (p.y - pad) / H })));
  }
  if ((start / 8) % 25 === 0) console.error(`${start + chunk.length}/${files.length}`);
}
await detector.dispose();

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const sd = (v: number[]) => {
  const mu = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - mu) ** 2, 0) / (v.length - 1));
};
const names = ['left eye', 'right eye', 'nose tip', 'mouth left', 'mouth right'];
const raw = names.map((_, j) => ({ x: median(found.map((p) => (p[j] as Point).x)), y: median(found.map((p) => (p[j] as Point).y)) }));
const spread = names.map((_, j) => ({ x: sd(found.map((p) => (p[j] as Point).x)), y: sd(found.map((p) => (p[j] as Point).y)) }));
// Mirror pairs: (0, 1) eyes, (2, 2) nose, (3, 4) mouth corners.
const mirror = [1, 0, 2, 4, 3];
const symmetric = raw.map((p, j) => {
  const q = raw[mirror[j] as number] as Point;
  return { x: (p.x + 1 - q.x) / 2, y: (p.y + q.y) / 2 };
});
const f = (v: number) => v.toFixed(4);
console.log(`${found.length} of ${files.length} faces found (${missed} missed) in ${((performance.now() - t0) / 1000).toFixed(1)} s, padding ${pad} px`);
console.log('| point | median x | median y | symmetric x | symmetric y | sd x | sd y |');
console.log('|---|---|---|---|---|---|---|');
names.forEach((n, j) => {
  const r = raw[j] as Point;
  const s = symmetric[j] as Point;
  const d = spread[j] as Point;
  console.log(`| ${n} | ${f(r.x)} | ${f(r.y)} | ${f(s.x)} | ${f(s.y)} | ${d.x.toFixed(3)} | ${d.y.toFixed(3)} |`);
});
