import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { WeightsError } from '../errors.js';
import { WEB_SCRIPT_FILE, WEB_WORKER_FILE } from './web-model.js';

export { WEB_SCRIPT_FILE, WEB_WORKER_FILE };

/**
 * The page's one script: src/browser/page/main.ts and everything it imports (tfjs included),
 * bundled by esbuild (and the library alone, for serve's page, and the base worker's script). `npm run build` writes it to dist/browser/ beside this module, and an
 * export copies it; run from the sources (tests, tsx), it is bundled here on demand instead
 * (about a second).
 */

/** esbuild's settings for the page's script: the same as package.json's build:web. */
export const WEB_SCRIPT_BUILD = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, legalComments: 'none' } as const;

/** The library alone (index.ts: loadWebModel), for a page of your own such as serve's. */
export const WEB_LIBRARY_FILE = 'facegender-lib.js';

const ENTRIES = {
  page: { file: WEB_SCRIPT_FILE, entry: './page/main.ts' },
  library: { file: WEB_LIBRARY_FILE, entry: './index.ts' },
  worker: { file: WEB_WORKER_FILE, entry: './base-worker.ts' },
} as const;

export async function webScript(kind: keyof typeof ENTRIES = 'page'): Promise<Uint8Array> {
  const built = fileURLToPath(new URL(`./${ENTRIES[kind].file}`, import.meta.url));
  try {
    return await readFile(built);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const entry = fileURLToPath(new URL(ENTRIES[kind].entry, import.meta.url));
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new WeightsError(`the page's script was not built (npm run build) and esbuild is not installed to build it`, built);
  }
  const result = await esbuild.build({ ...WEB_SCRIPT_BUILD, entryPoints: [entry], write: false, logLevel: 'silent' });
  const out = result.outputFiles[0];
  if (!out) throw new WeightsError('esbuild wrote no output', entry);
  return out.contents;
}
