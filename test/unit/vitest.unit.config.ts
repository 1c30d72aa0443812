// Fast runs of the pure unit tests alone: no global setup, so no Redis cluster is started.
// npx vitest run --config test/unit/vitest.unit.config.ts
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/unit/**/*.test.ts'],
  },
});
