// When `npm start` restarts a process that exited: compose's `restart: on-failure`, with a backoff and a crash-loop cap.

export interface RestartPolicyOptions {
  /** Wait before the first restart; doubles with each crash in a row. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A process that crashed this many times within `windowMs` stays down: it is crash-looping. */
  crashLimit?: number;
  windowMs?: number;
  /** A run at least this long resets the backoff: the process was healthy, the crash is new. */
  healthyRunMs?: number;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the process was started and when it exited, in ms (any monotonic clock). */
  startedAt: number;
  exitedAt: number;
}

export type RestartDecision =
  | { action: 'restart'; delayMs: number; crashes: number }
  /** Exit code 0: the process chose to stop (a drained worker node), which is the operator's decision. */
  | { action: 'stay-down'; reason: 'exited-cleanly' }
  | { action: 'give-up'; reason: 'crash-loop'; crashes: number; windowMs: number };

/**
 * The restart policy of one supervised process. Pure: it sees only exits and their times, so it is
 * tested without processes. A crash is any exit but code 0 (a non-zero code or a signal).
 */
export function createRestartPolicy({
  backoffMs = 500,
  maxBackoffMs = 8_000,
  crashLimit = 5,
  windowMs = 60_000,
  healthyRunMs = 30_000,
}: RestartPolicyOptions = {}) {
  const crashTimes: number[] = [];
  let inARow = 0;

  return {
    decide(exit: ProcessExit): RestartDecision {
      if (exit.code === 0 && exit.signal === null) return { action: 'stay-down', reason: 'exited-cleanly' };
      crashTimes.push(exit.exitedAt);
      while (crashTimes.length > 0 && crashTimes[0]! <= exit.exitedAt - windowMs) crashTimes.shift();
      if (crashTimes.length >= crashLimit) {
        return { action: 'give-up', reason: 'crash-loop', crashes: crashTimes.length, windowMs };
      }
      inARow = exit.exitedAt - exit.startedAt >= healthyRunMs ? 1 : inARow + 1;
      const delayMs = Math.min(maxBackoffMs, backoffMs * 2 ** (inARow - 1));
      return { action: 'restart', delayMs, crashes: crashTimes.length };
    },
  };
}

export type RestartPolicy = ReturnType<typeof createRestartPolicy>;
