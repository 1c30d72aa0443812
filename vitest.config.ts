import { defineConfig } from 'vitest/config';

// Integration tests share one real local Redis Cluster started by the global setup;
// files run in parallel forks, each test isolates itself with its own ids and queues.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
