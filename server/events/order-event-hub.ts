// The API's readers of order event streams: every open SSE stream of a shard is read by one
// non-blocking XREAD per tick, so the store sees one command per shard with watchers per tick,
// however many streams are open (an XREAD may name many keys when they share a slot, as a shard's do).
import type { OrderEvent } from '../../shared/domain/order-events.js';
import type { Keyspace } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../shared/store.js';

/** One event as read from a stream: its stream id is the SSE id a client resumes from. */
export interface StreamEvent {
  id: string;
  event: OrderEvent;
}

/** An open stream's subscription: `next` resolves with the events after its cursor, or null once closed. */
export interface Subscription {
  next(): Promise<StreamEvent[] | null>;
  close(): void;
}

export interface OrderEventHubDeps {
  store: Store;
  keyspace: Keyspace;
  logger: Logger;
  /** SSE_MAX_STREAMS: open subscriptions of this process past which `open` refuses. */
  maxStreams: number;
  /** SSE_POLL_MS: how often each shard's open streams are read. */
  pollMs: number;
}

/** Entries read per stream and tick; a longer backlog is read over the next ticks. */
const BATCH = 100;
const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/;

/** Is `id` a stream id (`<ms>-<seq>`), as a client's Last-Event-ID must be? */
export const isStreamId = (id: string) => STREAM_ID.test(id);

/** Whether stream id `a` comes after `b`. */
function after(a: string, b: string): boolean {
  const [, am = '0', as = '0'] = STREAM_ID.exec(a) ?? [];
  const [, bm = '0', bs = '0'] = STREAM_ID.exec(b) ?? [];
  const ms = BigInt(am) - BigInt(bm);
  return ms !== 0n ? ms > 0n : BigInt(as) > BigInt(bs);
}

type Entries = [id: string, fields: string[]][];

const parse = (entries: Entries): StreamEvent[] =>
  entries.flatMap(([id, fields]) => {
    const json = fields[fields.indexOf('e') + 1];
    return json ? [{ id, event: JSON.parse(json) as OrderEvent }] : [];
  });

interface Watcher extends Subscription {
  key: string;
  shard: number;
  cursor: string;
  push(events: StreamEvent[]): void;
}

/** The event streams of the orders of `keyspace`, read for this process's SSE clients. */
export function createOrderEventHub({ store, keyspace, logger, maxStreams, pollMs }: OrderEventHubDeps) {
  const watchers = new Set<Watcher>();
  let timer: NodeJS.Timeout | undefined;
  let ticking = false;
  let reads = 0;
  // A store that stays away would log every tick: once when reads start failing, once when back.
  let failing = false;

  /** One XREAD for every stream a shard's watchers follow, from the oldest cursor of each. */
  async function readShard(group: Watcher[]): Promise<void> {
    const cursors = new Map<string, string>();
    for (const w of group) {
      const seen = cursors.get(w.key);
      if (seen === undefined || after(seen, w.cursor)) cursors.set(w.key, w.cursor);
    }
    reads++;
    const keys = [...cursors.keys()];
    const found = (await store.xread('COUNT', BATCH, 'STREAMS', ...keys, ...cursors.values())) as
      | [key: string, entries: Entries][]
      | null;
    const byKey = new Map((found ?? []).map(([key, entries]) => [key, parse(entries)]));
    for (const w of group) {
      const events = byKey.get(w.key)?.filter((e) => after(e.id, w.cursor));
      if (events?.length) w.push(events);
    }
  }

  async function tick(): Promise<void> {
    if (ticking) return;
    ticking = true;
    try {
      const byShard = new Map<number, Watcher[]>();
      for (const w of watchers) byShard.set(w.shard, [...(byShard.get(w.shard) ?? []), w]);
      await Promise.all([...byShard].map(([, group]) => readShard(group)));
      if (failing) logger.info({ event: 'event-reads-back' });
      failing = false;
    } catch (error) {
      if (!failing) logger.warn({ event: 'event-read-failed', err: error });
      failing = true;
    } finally {
      ticking = false;
    }
  }

  function release(w: Watcher): void {
    watchers.delete(w);
    if (watchers.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    /** Subscriptions open now. */
    get size(): number {
      return watchers.size;
    },
    /** XREAD commands sent since the hub was made (for measurements). */
    get reads(): number {
      return reads;
    },
    get full(): boolean {
      return watchers.size >= maxStreams;
    },

    /** Follows the events of `orderId` after stream id `cursor` ('0-0': all); null when `maxStreams` are open. */
    open(orderId: string, cursor: string): Subscription | null {
      const keys = keyspace.ofOrder(orderId);
      if (!keys || watchers.size >= maxStreams) return null;
      let pending: StreamEvent[] = [];
      let wake: (() => void) | undefined;
      let closed = false;
      const watcher: Watcher = {
        key: keys.orderEvents(orderId),
        shard: keys.shard,
        cursor,
        push(events) {
          pending.push(...events);
          watcher.cursor = events.at(-1)!.id;
          wake?.();
        },
        async next() {
          while (pending.length === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
          if (closed && pending.length === 0) return null;
          const batch = pending;
          pending = [];
          return batch;
        },
        close() {
          closed = true;
          release(watcher);
          wake?.();
        },
      };
      watchers.add(watcher);
      if (!timer) {
        timer = setInterval(() => void tick(), pollMs);
        void tick(); // the history at once, not a tick later
      }
      return watcher;
    },

    /** The events of `orderId` after `cursor`, read once: for an order that has ended already. */
    async history(orderId: string, cursor: string): Promise<StreamEvent[]> {
      const keys = keyspace.ofOrder(orderId);
      if (!keys) return [];
      const start = cursor === '0-0' ? '-' : `(${cursor}`;
      return parse((await store.xrange(keys.orderEvents(orderId), start, '+')) as Entries);
    },

    /** Ends every open subscription (their streams close); on shutdown, before the HTTP server closes. */
    close(): void {
      for (const w of [...watchers]) w.close();
    },
  };
}

export type OrderEventHub = ReturnType<typeof createOrderEventHub>;
