// What the API's operations surfaces need, built once per process: registry, queues, metrics, activity.
import { Queue } from 'bullmq';
import { type Activity, createActivity } from '../shared/activity.js';
import type { Config } from '../shared/config.js';
import type { Keyspace } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { type ApiMetrics, createApiMetrics } from '../shared/metrics.js';
import { createMetricsExchange, type MetricsExchange } from '../shared/metrics-exchange.js';
import { createNodeRegistry, type NodeRegistry, registryTtlMs } from '../shared/node-registry.js';
import type { Store } from '../shared/store.js';

export interface Operations {
  nodes: NodeRegistry;
  /** One BullMQ Queue per shard, index = shard: for Bull Board and backlog counts. */
  queues: readonly Queue[];
  metrics: ApiMetrics;
  activity: Activity;
  exchange: MetricsExchange;
  /** Flushes the last counts and closes the queues (not the store, which is the caller's). */
  close(): Promise<void>;
}

export interface OperationsDeps {
  config: Pick<Config, 'KEY_NAMESPACE' | 'HEARTBEAT_MS'>;
  keyspace: Keyspace;
  store: Store;
  logger: Logger;
  /** How often counts still in memory are written; default 1 s. */
  flushEveryMs?: number;
}

/**
 * Builds the operations dependencies of the API; the queues share the store connection. Activity
 * counts are written after each stored order (orderCounter) and, here, every `flushEveryMs`: that
 * catches counts gathered while a write was under way or kept after a failed one, which /stats used
 * to write itself, on a public GET.
 */
export function createOperations({
  config,
  keyspace,
  store,
  logger,
  flushEveryMs = 1000,
}: OperationsDeps): Operations {
  const activity = createActivity(store, config.KEY_NAMESPACE);
  // flushSoon joins a write under way, so a store that hangs gets one write at a time, not one a tick.
  const flusher = setInterval(() => {
    activity.flushSoon().catch((error) => logger.warn({ event: 'activity-flush-failed', err: error }));
  }, flushEveryMs);
  flusher.unref();
  const queues = keyspace.all().map((keys) => {
    const queue = new Queue(keys.queueName, { connection: store, prefix: keys.queuePrefix });
    // BullMQ re-emits a failed connection start (INFO refused, connection closed) as 'error'; with
    // no listener that is an unhandled rejection, which would end the process.
    queue.on('error', (error) => logger.warn({ event: 'queue-error', queue: keys.queueName, err: error }));
    return queue;
  });

  return {
    nodes: createNodeRegistry(store, config.KEY_NAMESPACE, { ttlMs: registryTtlMs(config.HEARTBEAT_MS) }),
    queues,
    metrics: createApiMetrics(),
    activity,
    exchange: createMetricsExchange(store, config.KEY_NAMESPACE),
    async close() {
      clearInterval(flusher);
      await activity.flush().catch((error) => logger.warn({ event: 'activity-flush-failed', err: error }));
      const results = await Promise.allSettled(queues.map((queue) => queue.close()));
      for (const result of results) {
        if (result.status === 'rejected') logger.warn({ event: 'queue-close-failed', err: result.reason });
      }
    },
  };
}
