import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium, which the browser tests drive (Playwright's own browser download cannot work here). */
export const CHROMIUM = process.env.FACEGENDER_CHROMIUM ?? '/usr/bin/chromium';

/** Offline, sandbox-free flags for a container: no GPU, no QUIC, no background traffic. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why the browser tests cannot run, or null. They fail with this message rather than skip. */
export const CHROMIUM_MISSING = existsSync(CHROMIUM)
  ? null
  : `chromium is missing at ${CHROMIUM}: the browser tests need Debian's chromium (apt-get install chromium; .ci/run installs it), or set FACEGENDER_CHROMIUM to another chromium binary`;

/** Headless chromium with a fresh profile in `profileDir`; `args` adds flags (a fake camera, say). */
export async function launchChromium(profileDir: string, options: { viewport?: { width: number; height: number }; args?: string[] } = {}): Promise<BrowserContext> {
  if (CHROMIUM_MISSING) throw new Error(CHROMIUM_MISSING);
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    viewport: options.viewport ?? { width: 1280, height: 900 },
  });
}
