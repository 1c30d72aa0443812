// The worker node process: consumes every shard queue until SIGTERM/SIGINT, then drains and exits.
import pkg from '../package.json' with { type: 'json' };
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { runMain } from '../shared/process.js';
import { startTracing } from '../shared/tracing.js';
import { createWorkerRuntime } from './runtime.js';
import { testFailuresFromEnv } from './steps/test-failures.js';

runMain('worker', async ({ onShutdown, shutdown }) => {
  const config = loadConfig();
  const logger = createLogger(config, { service: 'worker' });
  // Off (and the SDK not loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT names a collector.
  const tracing = await startTracing(config, {
    serviceName: 'orderflow-worker',
    version: pkg.version,
    logger,
  });
  const worker = createWorkerRuntime(config, {
    logger,
    version: pkg.version,
    // The simulated steps of `config`; under NODE_ENV=test, with failures a test planned.
    handlers: testFailuresFromEnv(config),
    tracer: tracing.tracer,
    onDrainRequested: () => void shutdown('drain requested'),
    // A diagnostic, off unless set: the phases of each step's hand-over to the next, logged.
    dispatchTrace: config.DISPATCH_TRACE,
  });
  await worker.start();
  onShutdown('worker runtime', () => worker.close());
  // Last, so the spans of the steps finished while draining go out too; bounded (shared/tracing-sdk.ts).
  onShutdown('tracing (last spans)', () => tracing.shutdown());
  return logger;
});
