// Waiting with a deadline, for the launcher, the bench and the tests alike: one poll loop.
// scripts/kit/ is the tooling's kit: production code (server/, workers/, shared/) never imports it.
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown by a `waitUntil` check to stop waiting at once (a process it waits for has died). */
export class GaveUpWaiting extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

export interface WaitOptions {
  /** Between two checks; default 200 ms. */
  everyMs?: number;
  /** Whether an error of `check` counts as "not yet" (default) or ends the wait. GaveUpWaiting always ends it. */
  retryErrors?: boolean;
}

/**
 * Polls `check` until it returns a value other than undefined, null or false, and resolves with it;
 * throws naming `what` after `timeoutMs`.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  { everyMs = 200, retryErrors = true }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch((error: unknown) => {
      if (error instanceof GaveUpWaiting || !retryErrors) throw error;
      return undefined;
    });
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
