// pino JSON logs: one line per event, ids as fields; pretty only when LOG_PRETTY asks for it.
import { type Logger, pino } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** A logger for one process; `bindings` (service, node_id, ...) appear on every line. */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'LOG_PRETTY'>,
  bindings: Record<string, unknown> = {},
): Logger {
  return pino({
    level: config.LOG_LEVEL,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    ...(config.LOG_PRETTY ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}
