import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Heavy tests share two cores; running files one at a time keeps timings and memory predictable.
    fileParallelism: false,
    reporters: ['default', './test/helpers/plain-summary-reporter.ts'],
  },
});
