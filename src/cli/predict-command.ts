import { Command } from 'commander';
import { listImageInputs } from '../data/list-images.js';
import { loadClassifier } from '../predict/classifier.js';
import { classifyPhotoFiles, createPhotoClassifier, type FileOutcome } from '../predict/classify-photo.js';
import { modelInfo } from '../predict/model-info.js';
import { FacegenderError } from '../errors.js';
import { addDetectorOptions, addFilesFromOption, addOnnxThreadOption, detectorOptionsFrom, inputsFrom, onnxThreadFrom, parseInteger } from './options.js';
import { terminalProgress } from './progress-bar.js';

function describe(o: FileOutcome): string[] {
  if (o.error !== undefined) return [`${o.file}: error: ${o.error}`];
  const r = o.result;
  if (!r) return [`${o.file}: no result`];
  if (r.faces.length === 0) return [`${o.file}: no face found (${r.width}x${r.height})`];
  if (!r.detect) return [`${o.file}: ${(r.faces[0] as { text: string }).text}`];
  return [
    `${o.file}: ${r.faces.length} face${r.faces.length === 1 ? '' : 's'}`,
    ...r.faces.map((f, i) => `  face ${i + 1} at x=${Math.round(f.box.x)} y=${Math.round(f.box.y)} ${Math.round(f.box.width)}x${Math.round(f.box.height)}: ${f.text}`),
  ];
}

export function predictCommand(): Command {
  const cmd = new Command('predict')
    .description('Find the faces in photos and classify each one (Female/Male, with the certainty)')
    .argument('[inputs...]', 'image files or folders (searched recursively)')
    .requiredOption('--model <dir>', 'model folder written by `facegender train`')
    .option('--no-detect', 'classify each image whole: for images that are already CelebA-style aligned crops')
    .option('--json', 'print JSON with the boxes, probabilities and threshold', false)
    .option('--batch-size <n>', 'photos in flight at once (the model batches them)', parseInteger(1), 16)
    .option('--max-pixels <n>', 'refuse images with more pixels than this', parseInteger(1), 50_000_000)
    .option('--weights <file>', "the base's weights file, for vgg16-imagenet / vggface models");
  return addOnnxThreadOption(addFilesFromOption(addDetectorOptions(cmd))).action(async (inputs: string[], o) => {
      const files = await listImageInputs(await inputsFrom(inputs, o));
      const { onnxThread, close } = onnxThreadFrom(o);
      const classifier = await loadClassifier(o.model, { ...(o.weights ? { weights: o.weights } : {}), onnxThread }).catch(async (err: unknown) => {
        await close();
        throw err;
      });
      const progress = terminalProgress();
      try {
        const pc = await createPhotoClassifier(classifier, { maxPixels: o.maxPixels, maxBatch: Math.max(o.batchSize, 1), detector: { ...detectorOptionsFrom(o), onnxThread } });
        try {
          const outcomes = await classifyPhotoFiles(pc, files, { detect: o.detect, batchSize: o.batchSize, onProgress: files.length > 1 ? progress : undefined });
          progress.stop();
          if (o.json) {
            const info = modelInfo(classifier, o.model);
            const results = outcomes.map((x) => ({
              file: x.file,
              ...(x.error !== undefined ? { error: x.error } : {}),
              ...(x.result ? { width: x.result.width, height: x.result.height, detect: x.result.detect, faces: x.result.faces.map((f) => ({ ...f, threshold: info.threshold })) } : {}),
            }));
            console.log(JSON.stringify({ model: info, threshold: info.threshold, results }, null, 2));
          } else {
            for (const x of outcomes) for (const line of describe(x)) console.log(line);
          }
          const failed = outcomes.filter((x) => x.error !== undefined || (x.result?.faces.length ?? 0) === 0).length;
          if (failed === outcomes.length) {
            throw new FacegenderError(outcomes.length === 1 ? 'the input gave no face to classify' : `none of the ${outcomes.length} inputs gave a face to classify`);
          }
        } finally {
          await pc.dispose();
        }
      } finally {
        progress.stop();
        await classifier.dispose();
        await close();
      }
    });
}
