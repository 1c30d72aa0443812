// Sees the cancel requests of the orders whose steps run on this node, so that a running handler is
// stopped within one tick: one script per shard with running steps per tick, whatever their number.
import type { Logger } from '../shared/logger.js';

/** How often a node looks for cancel requests of its running steps: the bound on noticing one. */
export const CANCEL_POLL_MS = 250;

export interface CancelWatchDeps {
  /** Which of `orderIds` (all of `shard`) have a cancel request waiting. */
  poll(shard: number, orderIds: string[]): Promise<string[]>;
  log: Logger;
  intervalMs?: number;
}

interface Watched {
  orderId: string;
  shard: number;
  onCancel: () => void;
}

/**
 * The node's cancel watch: `watch` an order while its step runs; `onCancel` is called once if a
 * request appears. A timer runs only while something is watched. A failed poll is retried at the
 * next tick: a request missed meanwhile is still refused at the run's next forward write.
 */
export function createCancelWatch({ poll, log, intervalMs = CANCEL_POLL_MS }: CancelWatchDeps) {
  const watched = new Set<Watched>();
  let timer: NodeJS.Timeout | undefined;
  let ticking = false;

  async function tick(): Promise<void> {
    if (ticking) return;
    ticking = true;
    try {
      const byShard = new Map<number, Watched[]>();
      for (const entry of watched) {
        const group = byShard.get(entry.shard);
        if (group) group.push(entry);
        else byShard.set(entry.shard, [entry]);
      }
      await Promise.all(
        [...byShard].map(async ([shard, entries]) => {
          const ids = [...new Set(entries.map((e) => e.orderId))];
          const found = new Set(await poll(shard, ids));
          for (const entry of entries) {
            if (!found.has(entry.orderId) || !watched.delete(entry)) continue;
            log.info({ event: 'cancel-seen', at: 'watch', order_id: entry.orderId });
            entry.onCancel();
          }
        }),
      );
    } catch (error) {
      log.warn({ event: 'cancel-watch-failed', err: error });
    } finally {
      ticking = false;
      if (watched.size === 0) stop();
    }
  }

  function stop(): void {
    clearInterval(timer);
    timer = undefined;
  }

  return {
    /** Watches `orderId` (of `shard`) until the returned function is called. */
    watch(orderId: string, shard: number, onCancel: () => void): () => void {
      const entry = { orderId, shard, onCancel };
      watched.add(entry);
      if (!timer) {
        timer = setInterval(() => void tick(), intervalMs);
        timer.unref();
      }
      return () => {
        watched.delete(entry);
        if (watched.size === 0) stop();
      };
    },
    get size(): number {
      return watched.size;
    },
  };
}

export type CancelWatch = ReturnType<typeof createCancelWatch>;
