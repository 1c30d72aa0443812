// The placement backlog: waiting steps over every shard queue, sampled in the background so that
// placement checks a number in memory instead of asking the store on every request.
import type { Keyspace } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../shared/store.js';

export interface BacklogOptions {
  store: Store;
  keyspace: Keyspace;
  logger: Logger;
  /** How often the backlog is read; a placement may overshoot the limit by what arrives in between. */
  intervalMs?: number;
}

/** Waiting steps per shard (the BullMQ `wait` list: ready to run, not yet running). */
export async function readBacklog(store: Store, keyspace: Keyspace): Promise<number[]> {
  return Promise.all(keyspace.all().map((keys) => store.llen(keys.queueKey('wait'))));
}

/** Samples the backlog every `intervalMs` until stopped. */
export function createBacklogMonitor({ store, keyspace, logger, intervalMs = 1000 }: BacklogOptions) {
  let perShard: number[] = keyspace.all().map(() => 0);
  let timer: NodeJS.Timeout | undefined;
  let sampling = false;

  async function sample(): Promise<void> {
    if (sampling) return; // a slow store must not pile up reads
    sampling = true;
    try {
      perShard = await readBacklog(store, keyspace);
    } catch (error) {
      logger.debug({ event: 'backlog-sample-failed', err: error });
    } finally {
      sampling = false;
    }
  }

  return {
    /** Waiting steps over all shards at the last sample. */
    get total(): number {
      return perShard.reduce((a, b) => a + b, 0);
    },
    get perShard(): readonly number[] {
      return perShard;
    },
    sample,
    start(): void {
      void sample();
      timer = setInterval(() => void sample(), intervalMs);
      timer.unref();
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}

export type BacklogMonitor = ReturnType<typeof createBacklogMonitor>;
