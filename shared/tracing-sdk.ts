// The OpenTelemetry SDK of a process whose config names a collector; loaded only then (shared/tracing.ts).
import { type DiagLogger, DiagLogLevel, diag, propagation, type Tracer, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from './logger.js';
import { withTimeout } from './store.js';
import type { Tracing, TracingConfig } from './tracing.js';

// One export may take this long; the shutdown's flush then at most one more export and the bound below.
// A collector that does not answer costs a stopping process SHUTDOWN_BOUND_MS, never a hang.
const EXPORT_TIMEOUT_MS = 2000;
const SHUTDOWN_BOUND_MS = 5000;

function samplerOf(config: TracingConfig): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG);
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
  }
}

/** The OTLP/HTTP exporter of the configured protocol, posting to `<endpoint>/v1/traces`. */
async function exporterOf(config: TracingConfig): Promise<SpanExporter> {
  const url = `${config.OTEL_EXPORTER_OTLP_ENDPOINT!.replace(/\/+$/, '')}/v1/traces`;
  const options = { url, timeoutMillis: EXPORT_TIMEOUT_MS };
  if (config.OTEL_EXPORTER_OTLP_PROTOCOL === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter(options);
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter(options);
}

/**
 * The SDK's own complaints (an export that failed, a dropped span) as log lines, each distinct message
 * at most once a minute: a collector that is down would otherwise add a line every few seconds.
 */
function diagLogger(logger: Logger): DiagLogger {
  const lastLogged = new Map<string, number>();
  const write =
    (level: 'warn' | 'error') =>
    (message: string, ...args: unknown[]) => {
      const now = Date.now();
      // Counts in a message ("dropped 12 spans") do not make it another message.
      const kind = message.replace(/\d+/g, 'N');
      if (now - (lastLogged.get(kind) ?? 0) < 60_000) return;
      lastLogged.set(kind, now);
      logger[level]({ event: 'tracing-diag', detail: args.map(String).join(' ') || undefined }, message);
    };
  const quiet = () => undefined;
  return { error: write('error'), warn: write('warn'), info: quiet, debug: quiet, verbose: quiet };
}

/** Registers a tracer provider exporting to the configured collector, and returns its tracer. */
export async function startSdk(
  config: TracingConfig,
  { serviceName, version, logger }: { serviceName: string; version: string; logger: Logger },
): Promise<Tracing> {
  diag.setLogger(diagLogger(logger), DiagLogLevel.WARN);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, [ATTR_SERVICE_VERSION]: version }),
    sampler: samplerOf(config),
    spanProcessors: [
      new BatchSpanProcessor(await exporterOf(config), { exportTimeoutMillis: EXPORT_TIMEOUT_MS }),
    ],
  });
  // W3C trace context only (no baggage): what travels in job data is `traceparent` and `tracestate`.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  const tracer: Tracer = trace.getTracer('orderflow', version);
  logger.info({
    event: 'tracing-started',
    service_name: serviceName,
    // The origin only: a URL may carry credentials (user:password@).
    endpoint: new URL(config.OTEL_EXPORTER_OTLP_ENDPOINT!).origin,
    protocol: config.OTEL_EXPORTER_OTLP_PROTOCOL,
    sampler: config.OTEL_TRACES_SAMPLER,
  });
  return {
    tracer,
    /**
     * Never throws: spans lost to a collector that is down are no reason to report a clean drain as a
     * failed exit (a supervisor restarts a node that exits non-zero).
     */
    async shutdown() {
      try {
        await withTimeout(provider.shutdown(), SHUTDOWN_BOUND_MS, 'tracing shutdown');
      } catch (error) {
        logger.warn({ event: 'tracing-flush-failed', err: error }, 'spans still buffered were dropped');
      } finally {
        trace.disable();
        propagation.disable();
        diag.disable();
      }
    },
  };
}
