// The worker node process: consumes every shard queue until SIGTERM/SIGINT, then drains and exits.
import pkg from '../package.json' with { type: 'json' };
import { loadConfig } from '../shared/config.js';
import { runMain } from '../shared/process.js';
import { createWorkerRuntime } from './runtime.js';
import { testFailuresFromEnv } from './steps/test-failures.js';

runMain('worker', async ({ onShutdown, shutdown }) => {
  const config = loadConfig();
  const worker = createWorkerRuntime(config, {
    version: pkg.version,
    // The simulated steps of `config`; under NODE_ENV=test, with failures a test planned.
    handlers: testFailuresFromEnv(config),
    onDrainRequested: () => void shutdown('drain requested'),
  });
  await worker.start();
  onShutdown('worker runtime', () => worker.close());
  return worker.logger;
});
