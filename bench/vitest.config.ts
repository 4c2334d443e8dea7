import { defineConfig } from 'vitest/config';

// bench/face-probe.ts is written as a vitest file (its `it` blocks print the probe's tables):
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
