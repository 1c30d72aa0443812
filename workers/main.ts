// The worker node process: consumes every shard queue until SIGTERM/SIGINT, then drains and exits.
import { serve } from '@hono/node-server';
import pkg from '../package.json' with { type: 'json' };
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { runMain } from '../shared/process.js';
import { createStore } from '../shared/store.js';
import { startTracing } from '../shared/tracing.js';
import { createNodeHealthApp } from './health-server.js';
import { createNodeTelemetry } from './node-metrics.js';
import { testFailuresFromEnv } from './steps/test-failures.js';
import { newInstance } from './takeover.js';
import { createWorkerNode } from './worker-node.js';

runMain('worker', async ({ onShutdown, shutdown }) => {
  const config = loadConfig();
  const logger = createLogger(config, { service: 'worker' });
  // Off (and the SDK not loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT names a collector.
  const tracing = await startTracing(config, {
    serviceName: 'orderflow-worker',
    version: pkg.version,
    logger,
  });
  // Named per run, not per NODE_ID: a supervisor restarts a dead node under the same id at once, and
  // the survivors must still see the dead run's connections gone (workers/takeover.ts).
  const instance = newInstance(config.NODE_ID);
  const connectionName = `orderflow-worker-${instance}`;
  const store = createStore(config, { connectionName });
  const telemetry = createNodeTelemetry({
    store,
    namespace: config.KEY_NAMESPACE,
    nodeId: config.NODE_ID,
    heartbeatMs: config.HEARTBEAT_MS,
    logger,
  });
  const node = createWorkerNode({
    config,
    store,
    logger,
    version: pkg.version,
    // The simulated steps of `config`; under NODE_ENV=test, with failures a test planned.
    handlers: testFailuresFromEnv(config),
    instance,
    connectionName,
    observer: telemetry.observer,
    tracer: tracing.tracer,
    onHeartbeat: telemetry.onHeartbeat,
    onDrainRequested: () => void shutdown('drain requested'),
  });
  if (config.NODE_PORT > 0) {
    // Bound before the node takes a step: a taken port stops the process at once with one line,
    // instead of an unhandled 'error' after it already started steps.
    const probe = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const server = serve(
        {
          fetch: createNodeHealthApp(node, telemetry.metrics.registry).fetch,
          hostname: config.HOST,
          port: config.NODE_PORT,
        },
        () => resolve(server),
      );
      server.once('error', reject);
    });
    logger.info({ event: 'probe-listening', url: `http://${config.HOST}:${config.NODE_PORT}` });
    onShutdown('probe server', () => new Promise<void>((resolve) => probe.close(() => resolve())));
  }
  node.start();
  onShutdown('worker node', () => node.close());
  onShutdown('metrics (last counts)', () => telemetry.flush());
  onShutdown('store', async () => void (await store.quit()));
  // Last, so the spans of the steps finished while draining go out too; bounded (shared/tracing-sdk.ts).
  onShutdown('tracing (last spans)', () => tracing.shutdown());
  return logger;
});
