// pino JSON logs: one line per event, ids as fields; pretty only when LOG_PRETTY asks for it.
import { createRequire } from 'node:module';
import { type Logger, pino } from 'pino';
import type { Config } from './config.js';
import { activeSpanFields, tracingEnabled } from './tracing.js';

export type { Logger };

/**
 * pino-pretty's entry file, or undefined where it is not installed: it is a dev dependency, so a
 * production install (`npm ci --omit=dev`, the image) has none. pino gets this absolute path as its
 * transport target, so the check and the load resolve the module the same way.
 */
function prettyTarget(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('pino-pretty');
  } catch {
    return undefined;
  }
}

/**
 * A logger for one process; `bindings` (service, node_id, ...) appear on every line. With tracing on,
 * a line written under a span carries its `trace_id` and `span_id`; with it off, no line looks for one.
 */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'LOG_PRETTY'> &
    Partial<Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SDK_DISABLED'>>,
  bindings: Record<string, unknown> = {},
): Logger {
  const options = {
    level: config.LOG_LEVEL,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    ...(tracingEnabled(config) ? { mixin: activeSpanFields } : {}),
  };
  const pretty = config.LOG_PRETTY ? prettyTarget() : undefined;
  if (pretty) return pino({ ...options, transport: { target: pretty, options: { colorize: true } } });
  // Asynchronous writes to stdout: lines logged while a write is under way go out together in the
  // next one, where a synchronous destination made one write(2) per line (measured at ~3 % of the
  // API's CPU at full placement load). pino flushes what is left synchronously when the process exits.
  const logger = pino(options, pino.destination({ dest: 1, sync: false }));
  // LOG_PRETTY only changes how lines look, so without pino-pretty the process keeps running and logs
  // JSON (what a log collector wants anyway) instead of crash-looping over a cosmetic setting.
  if (config.LOG_PRETTY) {
    logger.warn({
      event: 'log-pretty-unavailable',
      reason: 'LOG_PRETTY is set but pino-pretty (a dev dependency) is not installed: logging JSON',
    });
  }
  return logger;
}

/** The part of pino's destination (sonic-boom, or a transport's thread stream) that flushLogs uses. */
interface Destination {
  /** sonic-boom: an asynchronous write is under way. */
  _writing?: boolean;
  flushSync?: () => void;
}

/**
 * Writes out what the asynchronous destination still buffers, before a deliberate process.exit, so
 * the last lines ("stopped") are never lost. pino's `flush(cb)` calls back at once on this
 * destination (no minimum length), and a synchronous flush while an asynchronous write is under way
 * lets the exit cut that write short: under load the "stopped" line went missing (process-signals
 * test). So: wait for the write under way to end (at most `timeoutMs`), then write the rest synchronously.
 */
export function flushLogs(logger: Logger, timeoutMs = 1000): Promise<void> {
  const destination = (logger as unknown as Record<symbol, Destination | undefined>)[pino.symbols.streamSym];
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const attempt = () => {
      if (destination?._writing && Date.now() < deadline) return void setTimeout(attempt, 5);
      try {
        destination?.flushSync?.();
      } catch {
        // a destination that cannot flush now (not ready, destroyed): what it holds is lost anyway
      }
      resolve();
    };
    attempt();
  });
}
