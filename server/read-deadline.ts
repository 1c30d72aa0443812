// A deadline for the routes that read the store: 503 + Retry-After instead of a request that hangs.
import type { MiddlewareHandler } from 'hono';
import { StoreUnavailableError } from './errors.js';

/**
 * How long a read may wait for the store. The store connection never gives up on a command by itself
 * (`maxRetriesPerRequest: null`, which BullMQ needs), so without this a read hangs for as long as the
 * store does. 2 s is two orders of magnitude over a healthy read (a few ms) and under the 10 s a
 * typical HTTP client or load balancer waits.
 */
export const READ_DEADLINE_MS = 2000;

/**
 * Reads past their deadline and still waiting for the store, past which reads are refused at once.
 * A read that timed out stays queued in the store client until the store answers, so clients that
 * retry would keep adding commands to that queue for the whole outage; with this cap it holds at
 * most the commands of this many reads. A healthy store keeps the count at 0.
 */
export const MAX_OVERDUE_READS = 64;

export interface ReadDeadlineOptions {
  ms?: number;
  maxOverdue?: number;
}

/** Answers a GET or HEAD with StoreUnavailableError (503, Retry-After) once it takes longer than `ms`. */
export function readDeadline({
  ms = READ_DEADLINE_MS,
  maxOverdue = MAX_OVERDUE_READS,
}: ReadDeadlineOptions = {}): MiddlewareHandler {
  const retryAfterSeconds = Math.ceil(ms / 1000);
  let overdue = 0;
  return async function readDeadline(c, next) {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return next();
    if (overdue >= maxOverdue) {
      throw new StoreUnavailableError(`${overdue} reads are still waiting for the store; retry later`, {
        retryAfterSeconds,
      });
    }
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), ms);
    });
    // Hono's compose hands a handler's error to the error handler, so `handled` itself only settles.
    const handled = next();
    let late: boolean;
    try {
      late = await Promise.race([handled.then(() => false), expired]);
    } finally {
      clearTimeout(timer);
    }
    if (!late) return;
    overdue += 1;
    // The handler goes on in the background; what it answers when the store wakes up goes nowhere.
    handled.catch(() => undefined).finally(() => (overdue -= 1));
    throw new StoreUnavailableError(`the store did not answer within ${ms} ms; retry later`, {
      retryAfterSeconds,
    });
  };
}
