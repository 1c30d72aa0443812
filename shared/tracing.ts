// Tracing as the rest of the code sees it: @opentelemetry/api only. The SDK (shared/tracing-sdk.ts) is
// imported only when an endpoint is configured, so a process without one never loads it.
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanOptions,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

export type TracingConfig = Pick<
  Config,
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_PROTOCOL'
  | 'OTEL_SERVICE_NAME'
  | 'OTEL_TRACES_SAMPLER'
  | 'OTEL_TRACES_SAMPLER_ARG'
  | 'OTEL_SDK_DISABLED'
>;

/** The tracing of one process. */
export interface Tracing {
  /** This process's tracer; undefined when tracing is off, and then no span is ever started. */
  tracer: Tracer | undefined;
  /** Exports what is buffered and stops; bounded, so an unreachable collector cannot hold up an exit. */
  shutdown(): Promise<void>;
}

export const TRACING_OFF: Tracing = { tracer: undefined, shutdown: async () => undefined };

/** Whether `config` turns tracing on: an endpoint, and not OTEL_SDK_DISABLED. */
export const tracingEnabled = (
  config: Partial<Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SDK_DISABLED'>>,
) => config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined && !config.OTEL_SDK_DISABLED;

/**
 * Starts tracing for a process whose service name defaults to `serviceName` (OTEL_SERVICE_NAME wins),
 * or returns TRACING_OFF without loading the SDK when `config` does not turn it on.
 */
export async function startTracing(
  config: TracingConfig,
  { serviceName, version, logger }: { serviceName: string; version: string; logger: Logger },
): Promise<Tracing> {
  if (!tracingEnabled(config)) return TRACING_OFF;
  const { startSdk } = await import('./tracing-sdk.js');
  return startSdk(config, { serviceName: config.OTEL_SERVICE_NAME ?? serviceName, version, logger });
}

/** trace_id and span_id of the active span, for every log line written under it (a pino mixin). */
export function activeSpanFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** W3C trace context, as fields of a job's data (`traceparent`, `tracestate`). */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

/** The active span's W3C trace context; empty when there is none or tracing is off. */
export function activeTraceCarrier(): TraceCarrier {
  const carrier: TraceCarrier = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The context a carrier names, to parent a span on another process. */
export const traceContextOf = (carrier: TraceCarrier): Context => propagation.extract(ROOT_CONTEXT, carrier);

/** How a span ended that ended by an error: its status message, and the error recorded. */
function endWithError(span: Span, error: unknown, attributes?: Attributes): void {
  if (attributes) span.setAttributes(attributes);
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/**
 * Runs `fn` inside a span named `name`, ended when `fn` settles: its attributes then are what `fn`
 * returned through `done` (or `failed(error)` when it threw). Without a tracer, `fn` runs bare.
 */
export async function inSpan<T>(
  tracer: Tracer | undefined,
  name: string,
  options: SpanOptions & { parent?: Context },
  fn: () => Promise<T>,
  outcome: { done?: (result: T) => Attributes; failed?: (error: unknown) => Attributes } = {},
): Promise<T> {
  if (!tracer) return fn();
  const { parent = context.active(), ...spanOptions } = options;
  return tracer.startActiveSpan(name, spanOptions, parent, async (span) => {
    try {
      const result = await fn();
      if (outcome.done) span.setAttributes(outcome.done(result));
      return result;
    } catch (error) {
      endWithError(span, error, outcome.failed?.(error));
      throw error;
    } finally {
      span.end();
    }
  });
}
