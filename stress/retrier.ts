// Retries of refused placements (503, 429): same body, same Idempotency-Key, after Retry-After.
import type { OrderRequestText } from './order-source.js';
import type { Ack } from './placement.js';
import { orderIdOf, retryAfterSeconds } from './placement.js';

export interface RetrierOptions {
  url: string;
  /** Retries per request after its first refusal. */
  retries: number;
  onAck(ack: Ack): void;
  /** Retries in flight at once, so a burst of refusals does not become a burst of its own. */
  concurrency?: number;
  /** The longest Retry-After honoured, in seconds: a run should end even if the API asks for an hour. */
  maxWaitS?: number;
  signal?: AbortSignal;
}

/** What the retries came to. */
export interface RetryStats {
  /** Requests refused at least once and retried. */
  retried: number;
  /** Of those, placed by a retry. */
  placed: number;
  /** Of those, still refused after every retry, or answered another error. */
  gaveUp: number;
  /** Final answers of the requests that gave up, by status (or transport error). */
  finalStatuses: Record<string, number>;
  /** Every retry sent, first and later ones. */
  attempts: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** A retrier: `submit` each refusal as it comes, then `drain()` once placement has ended. */
export function createRetrier({
  url,
  retries,
  onAck,
  concurrency = 16,
  maxWaitS = 30,
  signal,
}: RetrierOptions) {
  const stats: RetryStats = { retried: 0, placed: 0, gaveUp: 0, finalStatuses: {}, attempts: 0 };
  const pending = new Set<Promise<void>>();
  let inFlight = 0;
  const slotFreed: Array<() => void> = [];

  const giveUp = (status: string) => {
    stats.gaveUp++;
    stats.finalStatuses[status] = (stats.finalStatuses[status] ?? 0) + 1;
  };

  async function post(
    request: OrderRequestText,
  ): Promise<{ status: number; retryAfter: number | null; body: string }> {
    while (inFlight >= concurrency) await new Promise<void>((resolve) => slotFreed.push(resolve));
    inFlight++;
    stats.attempts++;
    try {
      const res = await fetch(`${url}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': request.key },
        body: request.body,
        signal: AbortSignal.timeout(30_000),
      });
      return {
        status: res.status,
        retryAfter: retryAfterSeconds(res.headers.get('retry-after') ?? undefined),
        body: await res.text(),
      };
    } finally {
      inFlight--;
      slotFreed.shift()?.();
    }
  }

  async function retry(
    request: OrderRequestText,
    status: number,
    firstRetryAfter: number | null,
  ): Promise<void> {
    if (retries === 0) return giveUp(String(status));
    let wait = firstRetryAfter;
    for (let attempt = 1; attempt <= retries; attempt++) {
      // Without Retry-After, back off exponentially from half a second.
      await sleep(Math.min(maxWaitS, wait ?? 0.5 * 2 ** (attempt - 1)) * 1000, signal);
      if (signal?.aborted) return giveUp('interrupted');
      let answer: Awaited<ReturnType<typeof post>>;
      try {
        answer = await post(request);
      } catch (error) {
        if (attempt === retries)
          return giveUp((error as Error).name === 'TimeoutError' ? 'timeout' : 'error');
        wait = null;
        continue;
      }
      if (answer.status === 202) {
        const orderId = orderIdOf(answer.body);
        if (!orderId) return giveUp('202 without order_id');
        stats.placed++;
        onAck({ orderId, seq: request.seq, at: Date.now(), retried: true });
        return;
      }
      if (answer.status !== 503 && answer.status !== 429) return giveUp(String(answer.status));
      if (attempt === retries) return giveUp(String(answer.status));
      wait = answer.retryAfter;
    }
  }

  return {
    stats,
    /** Schedules the retries of a refused request. */
    submit(request: OrderRequestText, status: number, retryAfterS: number | null): void {
      stats.retried++;
      const task = retry(request, status, retryAfterS).finally(() => pending.delete(task));
      pending.add(task);
    },
    /** Resolves once every submitted request was placed or gave up. */
    async drain(): Promise<void> {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    get pending(): number {
      return pending.size;
    },
  };
}

export type Retrier = ReturnType<typeof createRetrier>;
