import { Command, InvalidArgumentError } from 'commander';
import { webAssets } from '../browser/export-site.js';
import { UsageError } from '../errors.js';
import { loadClassifier } from '../predict/classifier.js';
import { createPhotoClassifier } from '../predict/classify-photo.js';
import { modelInfo } from '../predict/model-info.js';
import { buildServer, DEFAULT_BODY_LIMIT, DEFAULT_INFERENCE_TIMEOUT_MS, DEFAULT_PHOTO_CONCURRENCY, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SERVER_MAX_PIXELS } from '../serve/server.js';
import { addDetectorOptions, addOnnxThreadOption, detectorOptionsFrom, onnxThreadFrom, parseInteger } from './options.js';

function parseMegabytes(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError(`expected a size in MB > 0, got "${value}"`);
  return Math.round(n * 1024 * 1024);
}

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('Serve a model over HTTP: POST /api/predict, GET /api/health, GET /api/model, and a web page at /')
    .requiredOption('--model <dir>', 'model folder written by `facegender train`')
    .option('--port <n>', 'port to listen on (0: any free port)', parseInteger(0), 8080)
    .option('--host <address>', 'address to listen on; 0.0.0.0 exposes it to the network', '127.0.0.1')
    .option('--max-body-mb <mb>', 'largest upload in MB', parseMegabytes, DEFAULT_BODY_LIMIT)
    .option('--max-pixels <n>', 'largest image in pixels', parseInteger(1), DEFAULT_SERVER_MAX_PIXELS)
    .option('--request-timeout-ms <ms>', 'time allowed to receive a request, body included; then 408', parseInteger(1), DEFAULT_REQUEST_TIMEOUT_MS)
    .option('--inference-timeout-ms <ms>', 'time allowed to classify one upload', parseInteger(1), DEFAULT_INFERENCE_TIMEOUT_MS)
    .option('--max-batch <n>', 'largest batch per model call', parseInteger(1), 32)
    .option('--photo-concurrency <n>', 'photos classified at once; later uploads wait in arrival order', parseInteger(1), DEFAULT_PHOTO_CONCURRENCY)
    .option('--weights <file>', "the base's weights file, for vgg16-imagenet / vggface models")
    .option('--quiet', 'no log line per request (server errors are still logged to stderr)', false);
  return addOnnxThreadOption(addDetectorOptions(cmd)).action(async (o) => {
      const { onnxThread, close } = onnxThreadFrom(o);
      // The worker thread ends however serve does: a model that fails to load, a port in use.
      try {
        const classifier = await loadClassifier(o.model, { ...(o.weights ? { weights: o.weights } : {}), onnxThread });
        const pc = await createPhotoClassifier(classifier, { maxPixels: o.maxPixels, maxBatch: o.maxBatch, detector: { ...detectorOptionsFrom(o), onnxThread } });
        const info = modelInfo(classifier, o.model);
        // The page's "classify in this browser" switch needs the model's browser copy; a base that cannot run there leaves it off.
        const web = await webAssets(o.model, { script: 'library' }).catch((err: unknown) => {
          if (!(err instanceof UsageError)) throw err;
          console.error(`in-browser mode off: ${err.message}`);
          return null;
        });
        const app = await buildServer(pc, info, {
          bodyLimit: o.maxBodyMb,
          maxPixels: o.maxPixels,
          requestTimeoutMs: o.requestTimeoutMs,
          inferenceTimeoutMs: o.inferenceTimeoutMs,
          photoConcurrency: o.photoConcurrency,
          quiet: o.quiet,
          ...(web ? { webFiles: web.assets } : {}),
        });
        const address = await app.listen({ port: o.port, host: o.host });
        console.error(`serving ${info.id} (${info.base} base, threshold ${info.threshold}) at ${address}`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await app.close();
        await pc.dispose();
        await classifier.dispose();
      } finally {
        await close();
      }
    });
}
