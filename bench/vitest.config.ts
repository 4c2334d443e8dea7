import { defineConfig } from 'vitest/config';

// The bench runs as a vitest file because the project has no TypeScript runner (tsx) installed:
// `npx vitest run --config bench/vitest.config.ts`.
export default defineConfig({
  test: {
    root: '.',
    include: ['bench/**/*.test.ts', 'bench/face-probe.ts'],
    testTimeout: 4 * 60 * 60_000,
    hookTimeout: 60 * 60_000,
    fileParallelism: false,
  },
});
