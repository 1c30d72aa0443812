// How worker metrics reach the API: each node stores its registry as JSON beside its registry entry.
import type { ChainableCommander } from 'ioredis';
import { registryKeys } from './keys.js';
import type { Store } from './store.js';

/** One registry's `getMetricsAsJSON()`, as prom-client's AggregatorRegistry.aggregate takes it. */
export type MetricsJson = object[];

/**
 * The metrics documents of one namespace. A node's document lives under the `{registry}` hash tag
 * with the TTL of its registry entry, so a node that dies stops being counted when its entry
 * expires, and the API reads every live node's document in one MGET.
 */
export function createMetricsExchange(store: Store, namespace: string) {
  const key = registryKeys(namespace).metrics;
  return {
    key,

    /** Queues the write of `nodeId`'s document on `multi` (a MULTI of the same slot). */
    queuePublish(multi: ChainableCommander, nodeId: string, metrics: MetricsJson, ttlMs: number): void {
      multi.set(key(nodeId), JSON.stringify(metrics), 'PX', ttlMs);
    },

    /** The documents of `nodeIds` that exist, in order; unreadable ones are skipped. */
    async read(nodeIds: readonly string[]): Promise<MetricsJson[]> {
      if (nodeIds.length === 0) return [];
      const docs = await store.mget(nodeIds.map(key));
      const parsed: MetricsJson[] = [];
      for (const doc of docs) {
        if (doc === null) continue;
        try {
          parsed.push(JSON.parse(doc) as MetricsJson);
        } catch {
          // A half-written or foreign document must not break every scrape; the next heartbeat fixes it.
        }
      }
      return parsed;
    },
  };
}

export type MetricsExchange = ReturnType<typeof createMetricsExchange>;
