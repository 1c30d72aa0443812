// Placement load: autocannon POSTs a unique order per request and reports every response as it comes.
import autocannon from 'autocannon';
import type { OrderRequestText, OrderSource } from './order-source.js';

/** A placement the API acknowledged (202) with the order's id. */
export interface Ack {
  orderId: string;
  seq: number;
  /** Epoch ms when the 202 arrived. */
  at: number;
  /** True when it took one or more retries with the same key. */
  retried: boolean;
}

export interface PlacementLoad {
  url: string;
  source: OrderSource;
  connections: number;
  orders?: number;
  durationS?: number;
  /** At most this many requests per second in total. */
  rate?: number;
  onAck(ack: Ack): void;
  /** A 503 or 429: the caller may retry `request` with its key after `retryAfterS`. */
  onRefused(request: OrderRequestText, status: number, retryAfterS: number | null): void;
  /** After every response, for progress. */
  onResponse?(): void;
  signal?: AbortSignal;
}

export interface PlacementResult {
  startedAt: number;
  /** When the last answer arrived (autocannon itself stops on its next sampling tick). */
  endedAt: number;
  /** Requests sent, answered or not. */
  sent: number;
  /** Round-trip time of every answered request, in ms. */
  latenciesMs: number[];
  /** First answers by HTTP status. */
  statuses: Record<string, number>;
  /** Requests that got no answer, by cause (timeout, ECONNRESET, ...). */
  errors: Record<string, number>;
}

/** Retry-After in seconds (delta form; an HTTP date counts from now), or null when absent or malformed. */
export function retryAfterSeconds(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  if (/^\d+$/.test(text.trim())) return Number(text.trim());
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, (date - now) / 1000);
}

/** The order id of a 202 body; a regex rather than JSON.parse, it runs for every answer of a load. */
export const orderIdOf = (body: string): string | undefined => /"order_id":"([^"]+)"/.exec(body)?.[1];

const header = (headers: Record<string, unknown> | undefined, name: string) => {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === name) return value as string | string[];
  }
  return undefined;
};

/** Runs the placement load to its end (orders sent, duration over, or `signal` aborted). */
export function runPlacement(load: PlacementLoad): Promise<PlacementResult> {
  const { source } = load;
  const target = new URL(load.url);
  const path = `${target.pathname.replace(/\/+$/, '')}/orders`;
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let lastAnswerAt = 0;
  const connections = load.orders ? Math.min(load.connections, load.orders) : load.connections;
  type Context = { current?: OrderRequestText };

  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const instance = autocannon(
      {
        url: target.origin,
        connections,
        amount: load.orders,
        // autocannon ignores duration when amount is set; a timer below ends such runs.
        duration: load.durationS ?? 3600,
        overallRate: load.rate,
        timeout: 30,
        sampleInt: 100,
        requests: [
          {
            setupRequest(request, context) {
              const next = source.next();
              (context as Context).current = next;
              return {
                ...request,
                method: 'POST',
                path,
                headers: { 'content-type': 'application/json', 'idempotency-key': next.key },
                body: next.body,
              };
            },
            onResponse(status, body, context, headers) {
              const request = (context as Context).current;
              if (!request) return;
              if (status === 202) {
                const orderId = orderIdOf(body);
                if (orderId) load.onAck({ orderId, seq: request.seq, at: Date.now(), retried: false });
              } else if (status === 503 || status === 429) {
                load.onRefused(request, status, retryAfterSeconds(header(headers, 'retry-after')));
              }
            },
          },
        ],
      },
      (error, result) => {
        clearTimeout(timer);
        load.signal?.removeEventListener('abort', stop);
        if (error) return reject(error);
        resolve({
          startedAt,
          endedAt: lastAnswerAt || Date.now(),
          sent: result.requests.sent,
          latenciesMs,
          statuses,
          errors,
        });
      },
    );
    const stop = () => (instance as unknown as { stop(): void }).stop();
    const timer = load.orders && load.durationS ? setTimeout(stop, load.durationS * 1000) : undefined;
    load.signal?.addEventListener('abort', stop, { once: true });
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      lastAnswerAt = Date.now();
      latenciesMs.push(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
      load.onResponse?.();
    });
    instance.on('reqError', (error: Error & { code?: string }) => {
      const cause = error.code ?? (error.message === 'request timed out' ? 'timeout' : error.message);
      errors[cause] = (errors[cause] ?? 0) + 1;
      load.onResponse?.();
    });
  });
}
