import fastifyMultipart from '@fastify/multipart';
import pLimit from 'p-limit';
import Fastify, { type ConnectionError, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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
/** Photos classified at once; the rest wait in arrival order (measured in the README's Serve section). */
export const DEFAULT_PHOTO_CONCURRENCY = 8;
/** Node's default, pinned so that the 431's message can state it; larger headers get 431. */
const MAX_HEADER_BYTES = 16 * 1024;

export interface ServerOptions {
  /** Largest request body in bytes (default 10 MB); larger uploads get 413. */
  bodyLimit?: number;
  /** Largest image in pixels (default 40 M); larger ones get 422. */
  maxPixels?: number;
  /** Time allowed to receive a request, body included (default 30 s); then 408 and the connection is closed. */
  requestTimeoutMs?: number;
  /** Time allowed to classify one upload once received, queueing included (default 60 s); then 503. */
  inferenceTimeoutMs?: number;
  /** Default 256. */
  maxInFlight?: number;
  /** Photos classified at once (default 8); later uploads wait in arrival order, within the inference timeout. */
  photoConcurrency?: number;
  /** No line per request; a 5xx's cause is still logged, since a server that hides its own failures cannot be mended. */
  quiet?: boolean;
  /** Where log lines go (default stderr, one line per call). */
  log?: (line: string) => void;
  /**
   * Files served under /web/ (the model's browser assets: the library script, the detector, base
   * and head weights): with them the page offers to classify in the browser, uploading nothing.
   */
  webFiles?: ReadonlyArray<{ path: string; body: Uint8Array; type: string }>;
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
const MULTIPART_LIMITS = { files: 1, fields: 8, parts: 10, headerPairs: 100 };

function parseDetect(query: unknown): boolean {
  const value = (query as Record<string, unknown> | undefined)?.detect;
  if (value === undefined) return true;
  if (value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new HttpError(400, `detect must be true or false, got '${String(value)}'`);
}

/** A client's file name, made safe to echo: no control characters, and short. */
function displayName(filename: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = filename.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 100 ? `${clean.slice(0, 100)}…` : clean;
}

/**
 * The one file of a multipart body. Busboy's own errors say nothing a client can act on ("Unexpected
 * end of multipart data"), so each is turned into a 400 that names what was wrong with the body.
 */
async function readMultipartFile(req: FastifyRequest): Promise<{ bytes: Buffer; name: string }> {
  const match = /;\s*boundary=(?:"([^"]*)"|([^;\s]*))/i.exec(req.headers['content-type'] ?? '');
  const boundary = match?.[1] ?? match?.[2] ?? '';
  if (!boundary) throw new HttpError(400, 'the multipart Content-Type has no boundary parameter');
  // RFC 2046's limit; busboy throws a bare error on longer ones.
  if (boundary.length > 70) throw new HttpError(400, `the multipart boundary is ${boundary.length} characters long, over the limit of 70`);
  let file: { bytes: Buffer; name: string } | undefined;
  let parts = 0;
  try {
    for await (const part of req.parts()) {
      parts++;
      if (part.type === 'file') file = { bytes: await part.toBuffer(), name: part.filename ? displayName(part.filename) : UPLOAD_NAME };
    }
  } catch (e) {
    const err = e as FastifyError;
    // The plugin's limit errors are 413s that read as a body over the size limit, which they are not.
    if (err.code === 'FST_FILES_LIMIT') throw new HttpError(400, `the multipart body holds more than one file${file ? ` ('${file.name}', then another)` : ''}; send one image per request`);
    if (err.code === 'FST_PARTS_LIMIT' || err.code === 'FST_FIELDS_LIMIT') {
      throw new HttpError(400, `the multipart body holds more than ${MULTIPART_LIMITS.parts} parts or ${MULTIPART_LIMITS.fields} fields; send one image file`);
    }
    if (/unexpected end of multipart data/i.test(err.message)) {
      throw new HttpError(
        400,
        parts === 0
          ? `the multipart body holds no part delimited by the boundary '${boundary}' from its Content-Type (a different boundary, or not multipart at all)`
          : `the multipart body was cut short: it ends before the closing boundary '--${boundary}--'`,
      );
    }
    throw e;
  }
  if (!file) throw new HttpError(400, 'the multipart body holds no file; send the image as a file field (e.g. "image")');
  return file;
}

/** The status and message for an error Node raised while reading a request off the socket. */
function clientErrorReply(err: ConnectionError, requestTimeout: number): [number, string] {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, `the request was not received within ${requestTimeout} ms`];
    case 'HPE_HEADER_OVERFLOW':
      return [431, `the request headers are larger than the limit of ${MAX_HEADER_BYTES} bytes`];
    case 'HPE_INVALID_EOF_STATE':
      return [400, 'the connection closed before the request was complete'];
    default:
      return [400, `malformed HTTP request (${err.code ?? err.message})`];
  }
}

export async function buildServer(pc: PhotoClassifier, info: ModelInfo, options: ServerOptions = {}): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const maxPixels = options.maxPixels ?? DEFAULT_SERVER_MAX_PIXELS;
  const inferenceTimeout = options.inferenceTimeoutMs ?? DEFAULT_INFERENCE_TIMEOUT_MS;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const photoConcurrency = options.photoConcurrency ?? DEFAULT_PHOTO_CONCURRENCY;
  for (const [name, v] of Object.entries({ bodyLimit, maxPixels, inferenceTimeout, maxInFlight, requestTimeout, photoConcurrency })) {
    if (!(Number.isInteger(v) && v > 0)) throw new UsageError(`server option ${name} must be a positive whole number, got ${v}`);
  }
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const stamp = () => new Date().toISOString();
  const app = Fastify({
    // Fastify's pino lines are JSON; the server writes its own plain lines instead.
    logger: false,
    bodyLimit,
    requestTimeout,
    // An idle socket is one whose answer is still being computed, so it must outlast both steps.
    connectionTimeout: requestTimeout + inferenceTimeout + 5_000,
    return503OnClosing: true,
    http: {
      // Node swaps the two limits when headersTimeout (default 60 s) exceeds requestTimeout, which
      // would give a slow body 60 s whatever requestTimeout says.
      headersTimeout: requestTimeout,
      // Node looks for overdue requests every 30 s by default, so a 1 s limit could run to 31 s.
      connectionsCheckingInterval: Math.min(1_000, requestTimeout),
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    // Errors Node finds before a request exists (oversized headers, a body that never finishes,
    // broken HTTP) get the same JSON body as the rest, and a log line, instead of Fastify's own.
    clientErrorHandler: (err: ConnectionError, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, message] = clientErrorReply(err, requestTimeout);
      if (!options.quiet) log(`${stamp()} - - ${status} (${message})`);
      if (socket.writable) {
        const body = JSON.stringify({ error: message, statusCode: status });
        socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy();
    },
  });
  await app.register(fastifyMultipart, { limits: { fileSize: bodyLimit, ...MULTIPART_LIMITS } });
  // Every other body is read as bytes and judged by its content, whatever its Content-Type says.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  const webFiles = new Map((options.webFiles ?? []).map((f) => [f.path, f]));
  const page = renderPage({ modelId: info.id, classNames: info.classNames, bodyLimitMb: Math.round((bodyLimit / 1024 / 1024) * 10) / 10, inBrowser: webFiles.size > 0 });
  const started = Date.now();
  let inFlight = 0;
  let served = 0;
  // Classifications still running, including those whose client left or whose deadline passed:
  // closing the server waits for them, so that the models can be disposed after it.
  const running = new Set<Promise<unknown>>();
  // Photos past the first few wait in order: with every upload decoding at once, the latest
  // arrivals took the cores from the oldest, and their buffers kept the collector busy.
  const photoLimit = pLimit(photoConcurrency);
  app.addHook('onClose', async () => {
    await Promise.allSettled([...running]);
  });

  app.addHook('onSend', async (_req, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
  });

  if (!options.quiet) {
    app.addHook('onResponse', async (req, reply) => {
      log(`${stamp()} ${req.method} ${req.url} ${reply.statusCode} ${Math.round(reply.elapsedTime)} ms`);
    });
  }

  app.setErrorHandler((err: FastifyError | HttpError | Error, req: FastifyRequest, reply: FastifyReply) => {
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
    }
    if (status >= 500) {
      // An HttpError is a refusal the server chose (busy, too slow): its message is the whole cause.
      const cause = err instanceof HttpError ? err.message : (err.stack ?? err.message);
      log(`${stamp()} ${req.method} ${req.url} ${status} error: ${cause}`);
    }
    void reply.code(status).type('application/json').send({ error: message, statusCode: status });
  });

  app.get('/', async (_req, reply) => {
    void reply.header('Content-Security-Policy', PAGE_CSP).type('text/html; charset=utf-8');
    return page;
  });

  app.get('/web/*', async (req, reply) => {
    const file = webFiles.get((req.params as { '*': string })['*']);
    if (!file) throw new HttpError(404, `no such file: ${req.url}`);
    void reply.type(file.type).header('Cache-Control', 'no-cache');
    return Buffer.from(file.body.buffer, file.body.byteOffset, file.body.byteLength);
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
    let name = UPLOAD_NAME;
    if (req.isMultipart()) {
      ({ bytes, name } = await readMultipartFile(req));
    } else if (Buffer.isBuffer(req.body)) {
      bytes = req.body;
    } else {
      throw new HttpError(415, 'send an image as the request body (with an image content type) or as a multipart file');
    }
    if (bytes.length === 0) throw new HttpError(400, 'the image is empty (0 bytes)');
    // The declared type is not trusted: the bytes must be an image of a supported format.
    if (!sniffImageFormat(bytes.subarray(0, 32))) throw new NotAnImageError('not an image of a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF)', name);
    if (inFlight >= maxInFlight) throw new HttpError(503, `the server is busy (${inFlight} images in progress); try again shortly`);
    inFlight++;
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HttpError(503, `classification took longer than ${inferenceTimeout} ms`)), inferenceTimeout);
      });
      const classified = photoLimit(() => pc.classify(bytes, name, { detect, maxPixels }));
      running.add(classified);
      void classified.catch(() => {}).finally(() => running.delete(classified));
      const result = await Promise.race([classified, deadline]);
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
