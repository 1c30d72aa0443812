// The API process: wires config, tracing and the API runtime once, listens, and closes cleanly on SIGTERM/SIGINT.
import pkg from '../package.json' with { type: 'json' };
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { runMain, tellSupervisor } from '../shared/process.js';
import { startTracing } from '../shared/tracing.js';
import { createApiRuntime } from './runtime.js';

runMain('api', async ({ onShutdown }) => {
  const config = loadConfig();
  const logger = createLogger(config, { service: 'api' });
  // Off (and the SDK not loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT names a collector.
  const tracing = await startTracing(config, { serviceName: 'orderflow-api', version: pkg.version, logger });
  const api = createApiRuntime(config, { logger, tracer: tracing.tracer });
  onShutdown('api runtime', () => api.close());
  // Last, so the spans of the requests answered while stopping go out too; bounded (shared/tracing-sdk.ts).
  onShutdown('tracing (last spans)', () => tracing.shutdown());
  const { port } = await api.start();
  // With PORT=0 the port is known only now; `npm start` prints its URLs from this.
  tellSupervisor({ event: 'listening', port });
  return logger;
});
