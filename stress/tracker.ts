// Follows placed orders to completed/failed by polling GET /orders/:id, few requests per order.
import { isTerminal, type OrderRecord, STEPS } from '../shared/domain/order.js';
import { readOrder } from './api-client.js';
import { MinHeap } from './min-heap.js';
import type { Ack } from './placement.js';
import { endTracking } from './tracking-stop.js';

export interface TrackerOptions {
  url: string;
  /** GET /orders/:id in flight at once. */
  concurrency: number;
  stepMs: number;
  onProgress?(terminal: number, tracked: number): void;
  /** Tests inject a reader; the default asks the API. */
  read?: typeof readOrder;
}

/** Where tracking left the orders. */
export interface TrackResult {
  /** Terminal records, as last read. */
  finished: OrderRecord[];
  /** Not terminal when tracking stopped: the last record read (null if none was). */
  stuck: Array<{ orderId: string; last: OrderRecord | null }>;
  /** Acknowledged orders the API answers 404 for (twice): acknowledged, then lost. */
  lost: string[];
  polls: number;
  pollErrors: number;
  /** Why tracking stopped: all finished, deadline, no progress, or interrupted. */
  stoppedBy: 'finished' | 'deadline' | 'stalled' | 'interrupted';
}

interface Entry {
  ack: Ack;
  nextAt: number;
  /** Polls in a row that saw no change: the poll interval doubles with each. */
  idle: number;
  last: OrderRecord | null;
  notFound: number;
}

const progressKey = (order: OrderRecord | null) =>
  order ? `${order.status}/${order.current_step}/${order.rollback.length}` : 'none';

/**
 * When to poll an order next. A running order is polled when its remaining steps should be done,
 * so a healthy order costs one or two polls; an order that made no progress since the last poll
 * backs off exponentially (a deep backlog must not turn into a storm of GETs).
 */
export function nextPollAt(order: OrderRecord | null, now: number, stepMs: number, idle: number): number {
  const base = Math.max(50, stepMs / 4);
  const backoff = Math.min(Math.max(4 * stepMs, 2000), base * 2 ** idle);
  if (order?.status === 'in_progress') {
    const index = STEPS.indexOf(order.current_step as (typeof STEPS)[number]);
    const started = Date.parse(order.steps[index]?.started_at ?? '') || now;
    const expectedEnd = started + (STEPS.length - index) * stepMs + Math.max(20, stepMs * 0.02);
    if (expectedEnd > now) return expectedEnd;
  }
  return now + backoff;
}

/** A tracker: `add` acknowledged orders as they come, then `finish` once placement has ended. */
export function createTracker(options: TrackerOptions) {
  const read = options.read ?? readOrder;
  const schedule = new MinHeap<Entry>((e) => e.nextAt);
  const finished: OrderRecord[] = [];
  const lost: string[] = [];
  const inFlight = new Set<Entry>();
  let tracked = 0;
  let polls = 0;
  let pollErrors = 0;
  let lastProgressAt = Date.now();
  let stopped = false;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function poll(entry: Entry): Promise<void> {
    polls++;
    let answer: Awaited<ReturnType<typeof read>>;
    try {
      answer = await read(options.url, entry.ack.orderId);
    } catch {
      answer = { status: 0, order: null };
    }
    const now = Date.now();
    if (answer.status === 404 && ++entry.notFound >= 2) {
      lost.push(entry.ack.orderId);
      lastProgressAt = now;
      return;
    }
    if (answer.status !== 200 && answer.status !== 404) pollErrors++;
    if (answer.order && isTerminal(answer.order.status)) {
      finished.push(answer.order);
      lastProgressAt = now;
      options.onProgress?.(finished.length + lost.length, tracked);
      return;
    }
    const changed = answer.order !== null && progressKey(answer.order) !== progressKey(entry.last);
    if (changed) lastProgressAt = now;
    entry.idle = changed ? 0 : entry.idle + 1;
    entry.last = answer.order ?? entry.last;
    entry.nextAt = nextPollAt(entry.last, now, options.stepMs, entry.idle);
    schedule.push(entry);
  }

  async function pollLoop(placementDone: () => boolean): Promise<void> {
    while (!stopped) {
      const due = schedule.peek();
      if (!due) {
        if (placementDone() && inFlight.size === 0) return;
        await sleep(20);
        continue;
      }
      const wait = due.nextAt - Date.now();
      if (wait > 0) {
        await sleep(Math.min(wait, 50));
        continue;
      }
      const entry = schedule.pop()!;
      inFlight.add(entry);
      await poll(entry).finally(() => inFlight.delete(entry));
    }
  }

  let placementEnded = false;
  const loops = Array.from({ length: options.concurrency }, () => pollLoop(() => placementEnded));

  return {
    /** Starts following an acknowledged order; its first poll is when it should be done. */
    add(ack: Ack): void {
      tracked++;
      const nextAt = ack.at + STEPS.length * options.stepMs + Math.max(20, options.stepMs * 0.02);
      schedule.push({ ack, nextAt, idle: 0, last: null, notFound: 0 });
    },

    get tracked(): number {
      return tracked;
    },
    get terminal(): number {
      return finished.length + lost.length;
    },

    /**
     * Placement has ended: resolves when every order is terminal, at `deadline` (epoch ms), when no
     * order changed for `stallMs`, or when `signal` aborts; whatever is left counts as stuck.
     */
    async finish(deadline: number, stallMs: number, signal?: AbortSignal): Promise<TrackResult> {
      placementEnded = true;
      lastProgressAt = Math.max(lastProgressAt, Date.now());
      return endTracking({
        ...{ deadline, stallMs, signal, loops, lastProgressAt: () => lastProgressAt },
        stop: () => {
          stopped = true;
        },
        left: () => [...schedule.drain(), ...inFlight].map((e) => ({ orderId: e.ack.orderId, last: e.last })),
        result: () => ({ finished, lost, polls, pollErrors }),
      });
    },
  };
}

export type Tracker = ReturnType<typeof createTracker>;
