// Waiting in benchmarks: for a free port, and for a condition with a deadline.
import { setTimeout as sleep } from 'node:timers/promises';
import { isPortFree } from '../../scripts/redis-process.js';

// Ports already given out by this process: processes started side by side must not get the same one
// before the first has bound it.
const handedOut = new Set<number>();

/** The first port from `from` that 127.0.0.1 can bind now and that this process has not given out yet. */
export async function freePortFrom(from: number): Promise<number> {
  for (let port = from; port < from + 500; port++) {
    if (handedOut.has(port)) continue;
    handedOut.add(port); // reserved before the probe awaits, so a concurrent call skips it
    if (await isPortFree(port)) return port;
    handedOut.delete(port);
  }
  throw new Error(`no free port in ${from}-${from + 499}`);
}

/** Thrown by a `waitUntil` check to stop waiting at once (a process it waits for has died). */
export class GaveUpWaiting extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/**
 * Polls `check` every `everyMs` until it returns a value, or throws naming `what` after `timeoutMs`.
 * Errors of `check` count as "not yet", except GaveUpWaiting.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch((error: unknown) => {
      if (error instanceof GaveUpWaiting) throw error;
      return undefined;
    });
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}
