// Follows placed orders to their end through GET /orders/:id/events (`--track-via sse`): one stream
// per order until its terminal event, then one GET for the final record. Same interface as tracker.ts.
import type { OrderRecord } from '../shared/domain/order.js';
import { readOrder } from './api-client.js';
import type { Ack } from './placement.js';
import { readSse } from './sse-reader.js';
import type { TrackerOptions, TrackResult } from './tracker.js';
import { endTracking } from './tracking-stop.js';

const TERMINAL = new Set(['order-completed', 'order-failed', 'order-cancelled']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A tracker over event streams; `concurrency` is the number of streams open at once. */
export function createSseTracker(options: TrackerOptions) {
  const queue: Ack[] = [];
  const finished: OrderRecord[] = [];
  const lost: string[] = [];
  const open = new Map<string, { ack: Ack; last: OrderRecord | null }>();
  const stop = new AbortController();
  let tracked = 0;
  let requests = 0;
  let errors = 0;
  let lastProgressAt = Date.now();
  let placementEnded = false;

  /** Follows one order: streams until its end (reconnecting with Last-Event-ID), then reads the record. */
  async function follow(ack: Ack): Promise<void> {
    let lastId = '';
    let notFound = 0;
    open.set(ack.orderId, { ack, last: null });
    try {
      while (!stop.signal.aborted) {
        requests++;
        let ended = false;
        try {
          const res = await fetch(`${options.url}/orders/${encodeURIComponent(ack.orderId)}/events`, {
            headers: lastId ? { 'last-event-id': lastId } : {},
            signal: stop.signal,
          });
          if (res.status === 404 && ++notFound >= 2) {
            lost.push(ack.orderId);
            return;
          }
          if (res.status !== 200 || !res.body) {
            errors++;
            await res.arrayBuffer().catch(() => undefined);
            await sleep(Number(res.headers.get('retry-after') ?? 1) * 1000);
            continue;
          }
          await readSse(
            res.body,
            (message) => {
              lastId = message.id || lastId;
              lastProgressAt = Date.now();
              ended = TERMINAL.has(message.event);
              return ended;
            },
            stop.signal,
          );
        } catch {
          if (stop.signal.aborted) return;
          errors++;
          await sleep(500);
        }
        if (!ended) continue;
        requests++;
        const answer = await readOrder(options.url, ack.orderId).catch(() => ({ status: 0, order: null }));
        if (answer.order) {
          finished.push(answer.order);
          options.onProgress?.(finished.length + lost.length, tracked);
          return;
        }
        errors++;
      }
    } finally {
      open.delete(ack.orderId);
    }
  }

  async function loop(): Promise<void> {
    while (!stop.signal.aborted) {
      const ack = queue.shift();
      if (ack) await follow(ack);
      else if (placementEnded) return;
      else await sleep(20);
    }
  }
  const loops = Array.from({ length: options.concurrency }, () => loop());

  return {
    add(ack: Ack): void {
      tracked++;
      queue.push(ack);
    },
    get tracked(): number {
      return tracked;
    },
    get terminal(): number {
      return finished.length + lost.length;
    },
    /** As tracker.ts: resolves when every order ended, at `deadline`, after `stallMs` without an event, or on `signal`. */
    async finish(deadline: number, stallMs: number, signal?: AbortSignal): Promise<TrackResult> {
      placementEnded = true;
      lastProgressAt = Math.max(lastProgressAt, Date.now());
      return endTracking({
        ...{ deadline, stallMs, signal, loops, lastProgressAt: () => lastProgressAt },
        stop: () => stop.abort(),
        left: () =>
          [...open.values(), ...queue.map((ack) => ({ ack, last: null }))].map((e) => ({
            orderId: e.ack.orderId,
            last: e.last,
          })),
        result: () => ({ finished, lost, polls: requests, pollErrors: errors }),
      });
    },
  };
}
