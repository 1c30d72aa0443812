// The life of a long-running process: start once, stop cleanly on SIGTERM/SIGINT, always exit.
import { ConfigError } from './config.js';
import type { Logger } from './logger.js';

type Step = { name: string; run: () => Promise<void> | void };

export interface ProcessControl {
  /** Registers a shutdown step; steps run in registration order, each even if an earlier one threw. */
  onShutdown(name: string, run: Step['run']): void;
  /** Starts the shutdown as a signal would (a drain command, a watchdog). */
  shutdown(reason: string): Promise<void>;
}

/**
 * Runs `setup`, then waits for SIGTERM/SIGINT (or `shutdown()`) and runs the shutdown steps,
 * exiting 0 when they all finished and 1 when one failed or they overran `graceMs`.
 * A configuration error stops the process with one line naming the variable.
 */
export function runMain(
  service: string,
  setup: (control: ProcessControl) => Promise<Logger>,
  graceMs = 60_000,
): void {
  const steps: Step[] = [];
  let logger: Logger | undefined;
  let stopping: Promise<void> | undefined;

  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger?.info({ event: 'shutdown', reason });
      const timer = setTimeout(() => {
        logger?.error({ event: 'shutdown-timeout', grace_ms: graceMs });
        process.exit(1);
      }, graceMs);
      timer.unref();
      let failed = false;
      for (const step of steps) {
        try {
          await step.run();
        } catch (error) {
          failed = true;
          logger?.error({ event: 'shutdown-step-failed', step: step.name, err: error });
        }
      }
      logger?.info({ event: 'stopped', clean: !failed });
      logger?.flush();
      process.exit(failed ? 1 : 0);
    })();
    return stopping;
  };

  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  setup({ onShutdown: (name, run) => steps.push({ name, run }), shutdown })
    .then((log) => {
      logger = log;
    })
    .catch((error: unknown) => {
      const message =
        error instanceof ConfigError ? error.message : `${service} failed to start: ${String(error)}`;
      process.stderr.write(`${JSON.stringify({ level: 'fatal', service, msg: message })}\n`);
      process.exit(2);
    });
}
