// The life of a long-running process: start once, stop cleanly on SIGTERM/SIGINT, always exit.
import { ConfigError } from './config.js';
import { flushLogs, type Logger } from './logger.js';

/** One step of a shutdown: closing a server, a node, a connection. */
export type CloseStep = { name: string; run: () => Promise<void> | void };

/** Some steps of a shutdown threw; each was logged as it failed. */
export class CloseError extends Error {
  constructor(
    readonly steps: string[],
    options?: ErrorOptions,
  ) {
    super(`closing failed at: ${steps.join(', ')}`, options);
    this.name = this.constructor.name;
  }
}

/**
 * Runs `steps` in order, each even if an earlier one threw (logged as `shutdown-step-failed`), and
 * rejects at the end with a CloseError naming those that threw: one close order for each process.
 */
export async function closeInOrder(
  steps: readonly CloseStep[],
  logger?: Pick<Logger, 'error'>,
): Promise<void> {
  const failed: string[] = [];
  let cause: unknown;
  for (const step of steps) {
    try {
      await step.run();
    } catch (error) {
      failed.push(step.name);
      cause ??= error;
      logger?.error({ event: 'shutdown-step-failed', step: step.name, err: error });
    }
  }
  if (failed.length > 0) throw new CloseError(failed, { cause });
}

export interface ProcessControl {
  /** Registers a shutdown step; steps run in registration order, each even if an earlier one threw. */
  onShutdown(name: string, run: CloseStep['run']): void;
  /** Starts the shutdown as a signal would (a drain command, a watchdog). */
  shutdown(reason: string): Promise<void>;
}

/** The signal count at which a process stops waiting for its shutdown and exits at once. */
export const FORCE_EXIT_SIGNALS = 3;

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;
type StopSignal = keyof typeof SIGNAL_NUMBERS;

/** The conventional exit code of a process that ends because of `signal` (128 + its number). */
export const exitCodeOf = (signal: StopSignal) => 128 + SIGNAL_NUMBERS[signal];

/**
 * Calls `handle` for every SIGTERM and SIGINT with the running count of both. A supervisor, a
 * terminal or npm often deliver one stop twice (the process group's signal and a forwarded one),
 * so the handler must treat the second as joining the first: `process.once` would let the second
 * kill the process mid-shutdown with the default action.
 */
export function onStopSignals(handle: (signal: StopSignal, count: number) => void): void {
  let count = 0;
  for (const signal of Object.keys(SIGNAL_NUMBERS) as StopSignal[]) {
    process.on(signal, () => handle(signal, ++count));
  }
}

/**
 * Runs `setup`, then waits for SIGTERM/SIGINT (or `shutdown()`) and runs the shutdown steps,
 * exiting 0 when they all finished and 1 when one failed or they overran `graceMs`.
 * A second signal joins the shutdown under way; the third (FORCE_EXIT_SIGNALS) exits at once with
 * 128 + the signal's number, the deliberate way out of a shutdown that hangs. A process started
 * with an IPC channel (by `npm start`'s supervisor) also shuts down when that channel closes, so
 * it never outlives a supervisor that was SIGKILLed. A configuration error stops the process with
 * one line naming the variable.
 */
export function runMain(
  service: string,
  setup: (control: ProcessControl) => Promise<Logger>,
  graceMs = 60_000,
): void {
  const steps: CloseStep[] = [];
  let logger: Logger | undefined;
  let stopping: Promise<void> | undefined;

  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger?.info({ event: 'shutdown', reason });
      const timer = setTimeout(() => {
        logger?.error({ event: 'shutdown-timeout', grace_ms: graceMs });
        logger?.flush();
        process.exit(1);
      }, graceMs);
      timer.unref();
      const failed = await closeInOrder(steps, logger).then(
        () => false,
        () => true,
      );
      logger?.info({ event: 'stopped', clean: !failed });
      if (logger) await flushLogs(logger);
      process.exit(failed ? 1 : 0);
    })();
    return stopping;
  };

  onStopSignals((signal, count) => {
    if (count >= FORCE_EXIT_SIGNALS) {
      logger?.warn({ event: 'forced-exit', signal, signals: count });
      logger?.flush();
      process.exit(exitCodeOf(signal));
    }
    if (stopping) logger?.info({ event: 'shutdown-already-running', signal, signals: count });
    void shutdown(signal);
  });
  if (process.channel) {
    // The channel must not keep the process alive by itself; it only reports the supervisor's death.
    process.channel.unref();
    process.once('disconnect', () => void shutdown('supervisor gone'));
  }
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

/** Tells the supervisor (when there is one, over IPC) a fact it waits for, such as the bound port. */
export function tellSupervisor(message: { event: string; [field: string]: unknown }): void {
  if (process.connected) process.send?.(message);
}
