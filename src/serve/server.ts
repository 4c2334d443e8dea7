import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ImageTooLargeError, NotAnImageError } from '../data/read-photo.js';
import { sniffImageFormat } from '../data/sniff.js';
import { ImageDecodeError, UsageError } from '../errors.js';
import type { PhotoClassifier, PhotoResult } from '../predict/classify-photo.js';
import type { ModelInfo } from '../predict/model-info.js';
import { PAGE_CSP, renderPage } from './page.js';

/**
 * The HTTP face classifier. It only parses requests and calls the library: one PhotoClassifier,
 * loaded once, serves every request, and its micro-batchers turn concurrent requests into
 * batched model calls. No endpoint takes a file path; images arrive as request bodies.
 */

export const DEFAULT_BODY_LIMIT = 10 * 1024 * 1024;
/** 40 megapixels: any phone photo, but not a decompression bomb. */
export const DEFAULT_SERVER_MAX_PIXELS = 40_000_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Includes the wait in the queue: 50 clients at ~4 photos/s wait ~12 s each on two cores. */
export const DEFAULT_INFERENCE_TIMEOUT_MS = 60_000;
/** Requests waiting for the model before new ones get 503. */
export const DEFAULT_MAX_IN_FLIGHT = 256;

export interface ServerOptions {
  /** Largest request body in bytes (default 10 MB); larger uploads get 413. */
  bodyLimit?: number;
  /** Largest image in pixels (default 40 M); larger ones get 422. */
  maxPixels?: number;
  /** Time allowed to receive a request (default 30 s). */
  requestTimeoutMs?: number;
  /** Time allowed to classify one upload once received, queueing included (default 60 s); then 503. */
  inferenceTimeoutMs?: number;
  /** Default 256. */
  maxInFlight?: number;
  /** Fastify's logger (default off). */
  logger?: boolean;
}

/** A reply status with a message the client may see. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface PredictResponse {
  model: string;
  threshold: number;
  classNames: string[];
  width: number;
  height: number;
  detect: boolean;
  faces: PhotoResult['faces'];
  milliseconds: number;
}

const UPLOAD_NAME = 'upload';

function parseDetect(query: unknown): boolean {
  const value = (query as Record<string, unknown> | undefined)?.detect;
  if (value === undefined) return true;
  if (value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new HttpError(400, `detect must be true or false, got '${String(value)}'`);
}

export async function buildServer(pc: PhotoClassifier, info: ModelInfo, options: ServerOptions = {}): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const maxPixels = options.maxPixels ?? DEFAULT_SERVER_MAX_PIXELS;
  const inferenceTimeout = options.inferenceTimeoutMs ?? DEFAULT_INFERENCE_TIMEOUT_MS;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  for (const [name, v] of Object.entries({ bodyLimit, maxPixels, inferenceTimeout, maxInFlight })) {
    if (!(Number.isInteger(v) && v > 0)) throw new UsageError(`server option ${name} must be a positive whole number, got ${v}`);
  }
  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit,
    requestTimeout,
    // An idle socket is one whose answer is still being computed, so it must outlast both steps.
    connectionTimeout: requestTimeout + inferenceTimeout + 5_000,
    return503OnClosing: true,
  });
  await app.register(fastifyMultipart, { limits: { fileSize: bodyLimit, files: 1, fields: 8, parts: 10, headerPairs: 100 } });
  // Every other body is read as bytes and judged by its content, whatever its Content-Type says.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  const page = renderPage({ modelId: info.id, classNames: info.classNames, bodyLimitMb: Math.round((bodyLimit / 1024 / 1024) * 10) / 10 });
  const started = Date.now();
  let inFlight = 0;
  let served = 0;

  app.addHook('onSend', async (_req, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
  });

  app.setErrorHandler((err: FastifyError | HttpError | Error, _req: FastifyRequest, reply: FastifyReply) => {
    let status = 500;
    let message = 'internal error';
    if (err instanceof HttpError) {
      status = err.statusCode;
      message = err.message;
    } else if (err instanceof NotAnImageError) {
      status = 415;
      message = err.message;
    } else if (err instanceof ImageTooLargeError || err instanceof ImageDecodeError) {
      status = 422;
      message = err.message;
    } else if (typeof (err as FastifyError).statusCode === 'number' && ((err as FastifyError).statusCode as number) < 500) {
      status = (err as FastifyError).statusCode as number;
      message = status === 413 ? `request body is larger than the limit of ${bodyLimit} bytes` : err.message;
    } else {
      app.log.error(err);
    }
    void reply.code(status).type('application/json').send({ error: message, statusCode: status });
  });

  app.get('/', async (_req, reply) => {
    void reply.header('Content-Security-Policy', PAGE_CSP).type('text/html; charset=utf-8');
    return page;
  });

  app.get('/api/health', async () => ({
    status: 'ok',
    model: info.id,
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    inFlight,
    served,
  }));

  app.get('/api/model', async () => ({
    ...info,
    detector: pc.detectorDescription,
    limits: { bodyLimit, maxPixels, inferenceTimeoutMs: inferenceTimeout },
  }));

  app.post('/api/predict', async (req): Promise<PredictResponse> => {
    const detect = parseDetect(req.query);
    let bytes: Buffer;
    if (req.isMultipart()) {
      const part = await req.file();
      if (!part) throw new HttpError(400, 'the multipart body holds no file; send the image as a file field (e.g. "image")');
      bytes = await part.toBuffer();
    } else if (Buffer.isBuffer(req.body)) {
      bytes = req.body;
    } else {
      throw new HttpError(415, 'send an image as the request body (with an image content type) or as a multipart file');
    }
    if (bytes.length === 0) throw new HttpError(400, 'the image is empty (0 bytes)');
    // The declared type is not trusted: the bytes must be an image of a supported format.
    if (!sniffImageFormat(bytes.subarray(0, 32))) throw new NotAnImageError('not an image of a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF)', UPLOAD_NAME);
    if (inFlight >= maxInFlight) throw new HttpError(503, `the server is busy (${inFlight} images in progress); try again shortly`);
    inFlight++;
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HttpError(503, `classification took longer than ${inferenceTimeout} ms`)), inferenceTimeout);
      });
      const result = await Promise.race([pc.classify(bytes, UPLOAD_NAME, { detect, maxPixels }), deadline]);
      served++;
      return {
        model: info.id,
        threshold: info.threshold,
        classNames: info.classNames,
        width: result.width,
        height: result.height,
        detect: result.detect,
        faces: result.faces,
        milliseconds: Math.round(performance.now() - t0),
      };
    } finally {
      clearTimeout(timer);
      inFlight--;
    }
  });

  return app;
}
