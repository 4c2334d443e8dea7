import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import sharp from 'sharp';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportWebSite } from '../../src/browser/export-site.js';
import { webScript, WEB_LIBRARY_FILE } from '../../src/browser/web-script.js';
import { scanDataset } from '../../src/data/dataset.js';
import { makeSplit } from '../../src/data/split.js';
import { runExperiment, type ExperimentResult } from '../../src/experiments/experiment.js';
import { readGraphModel } from '../../src/graph/read-graph.js';
import type { GraphWeight } from '../../src/graph/nodes.js';
import { encodeGraphModel } from '../../src/graph/write-graph.js';
import { getPreprocessing } from '../../src/bases/preprocess.js';
import { decodeImage } from '../../src/data/decode.js';
import { initTfjs } from '../../src/runtime/tfjs/backend.js';
import { decodeGraphWeightBytes } from '../../src/graph/weight-bytes.js';
import { loadGraphModelFile, readGraphModelFiles, resolvePackageFile } from '../../src/runtime/tfjs/graph-loader.js';
import { BASE_WEIGHTS_BIN } from '../../src/train/bundle.js';
import { FACERES_SPECS } from '../../src/zoo/faceres.js';
import { launchChromium } from '../helpers/chromium.js';
import { facegender } from '../helpers/cli.js';
import { celebaFiles } from '../helpers/face-images.js';
import { CELEBA, CELEBA_IDENTITIES } from '../helpers/shared.js';
import { serveFolder } from '../helpers/static-server.js';

/*
 * A bundle whose `face` base was fine-tuned (its last block, one epoch, kept because validation
 * loss fell) exports a site whose base graph computes the tuned base (its batch norms folded into
 * the kernels, so checked by what it computes rather than weight by weight), and the page answers
 * as `predict` does with the tuned base.
 */

let dir: string;
let run: ExperimentResult;
let site: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fg-web-tuned-'));
  const dataset = await scanDataset(CELEBA, { identities: CELEBA_IDENTITIES });
  const split = makeSplit(dataset, { train: 24, val: 12, test: 12, balanced: true, seed: 5 });
  // The settings test/bases/face-fine-tune.test.ts measured to keep the fine-tune epoch.
  run = await runExperiment(split, 'face', path.join(dir, 'model'), { epochs: 1, lr: 1e-3, batchSize: 8, patience: 0, augmentViews: 0, fineTuneEpochs: 1, fineTuneLr: 1e-4, fineTuneBlocks: 1, cacheDir: path.join(dir, 'cache'), resamples: 50 });
  site = path.join(dir, 'site');
  await exportWebSite(path.join(dir, 'model'), site);
}, 600_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('export --web of a fine-tuned base', () => {
  it('exports a graph that computes the tuned base\'s features, not the package\'s', async () => {
    expect(run.manifest.base.fineTuned).toBeDefined();
    const spec = FACERES_SPECS['faceres-deep'];
    const file = resolvePackageFile(spec.model);
    const graph = await readGraphModel(file);
    const { json } = await readGraphModelFiles(file);
    const tuned = decodeGraphWeightBytes(await readFile(path.join(dir, 'model', BASE_WEIGHTS_BIN)), graph.weights);
    expect(tuned.size).toBeGreaterThan(0);
    await initTfjs();
    const inMemory = async (weights: ReadonlyMap<string, GraphWeight>) => {
      const { json: out, bin } = encodeGraphModel(json, graph.nodes, weights, 'w.bin');
      const specs = out.weightsManifest[0]?.weights as tfc.io.WeightsManifestEntry[];
      const artifacts = { modelTopology: out.modelTopology as unknown as tfc.io.ModelArtifacts['modelTopology'], weightSpecs: specs, weightData: bin.slice().buffer, format: 'graph-model' };
      return loadGraphModel(tfc.io.fromMemory(artifacts));
    };
    const exported = (await loadGraphModelFile(path.join(site, 'base', 'model.json'))).model;
    const withTuned = await inMemory(new Map([...graph.weights, ...tuned]));
    const original = await inMemory(graph.weights);
    // Four real faces, as the base takes them.
    const faces = [...(await celebaFiles('female', 2, 60)), ...(await celebaFiles('male', 2, 60))];
    const per = spec.inputSize.height * spec.inputSize.width * 3;
    const pixels = new Float32Array(faces.length * per);
    for (const [i, face] of faces.entries()) pixels.set((await decodeImage(face, { size: spec.inputSize, ...(spec.crop ? { crop: spec.crop } : {}) })).data, i * per);
    const x = tfc.tensor4d(getPreprocessing(spec.preprocess).apply(pixels), [faces.length, spec.inputSize.height, spec.inputSize.width, 3]);
    const features = async (model: GraphModel) => {
      const y = model.execute(x, spec.featureNode) as tfc.Tensor;
      const values = (await y.data()) as Float32Array;
      y.dispose();
      return values;
    };
    const [got, want, before] = [await features(exported), await features(withTuned), await features(original)];
    x.dispose();
    const largest = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);
    // Folding batch norms into the kernels rounds differently; fine-tuning moves features far more.
    expect(largest(got, want)).toBeLessThan(1e-4);
    expect(largest(got, before)).toBeGreaterThan(100 * largest(got, want));
    const web = JSON.parse(await readFile(path.join(site, 'web-model.json'), 'utf8')) as { base: { fineTuned: boolean } };
    expect(web.base.fineTuned).toBe(true);
  });

  it('gives predict\'s answers with the tuned base in Chromium', async () => {
    await mkdir(path.join(site, 'photos'));
    const photos = await Promise.all(
      [...(await celebaFiles('female', 2, 40)), ...(await celebaFiles('male', 2, 40))].map(async (file, i) => {
        const png = path.join(site, 'photos', `${i}.png`);
        await sharp(file).png().toFile(png);
        return png;
      }),
    );
    const node = await facegender(['predict', '--model', path.join(dir, 'model'), '--json', ...photos]);
    expect(node.code, node.stderr).toBe(0);
    const nodeProbs = (JSON.parse(node.stdout) as { results: Array<{ faces: Array<{ probability: number }> }> }).results.map((r) => r.faces.map((f) => f.probability));
    await writeFile(path.join(site, WEB_LIBRARY_FILE), await webScript('library'));
    const host = await serveFolder(site);
    let context: BrowserContext | undefined;
    try {
      context = await launchChromium(path.join(dir, 'profile'));
      const page = await context.newPage();
      await page.goto(`${host.url}/web-model.json`);
      // A string, not a function: the test runner would rewrite a function's import() for Node.
      const pageProbs = (await page.evaluate(`(async () => {
        const lib = await import(location.origin + '/' + ${JSON.stringify(WEB_LIBRARY_FILE)});
        const model = await lib.loadWebModel(location.origin + '/');
        const out = [];
        for (const i of [0, 1, 2, 3]) {
          const image = await createImageBitmap(await (await fetch(location.origin + '/photos/' + i + '.png')).blob());
          out.push((await model.classifyImage(image)).faces.map((f) => f.probability));
        }
        return out;
      })()`)) as number[][];
      expect(pageProbs.map((p) => p.length)).toEqual(nodeProbs.map((p) => p.length));
      pageProbs.flat().forEach((p, i) => expect(Math.abs(p - (nodeProbs.flat()[i] as number))).toBeLessThanOrEqual(1e-3));
    } finally {
      await context?.close();
      await host.close();
    }
  }, 300_000);
});
