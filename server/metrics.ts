// GET /metrics: the API's own metrics, per-scrape gauges and every live worker node's metrics, merged.
import type { MiddlewareHandler } from 'hono';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import type { Operations } from './operations.js';
import { shardQueueCounts } from './shard-map.js';

/**
 * Counts placements as they are acknowledged: the `placement` the POST handler sets with its 202,
 * not an idempotent replay. The store count is sent at once, before the 202 leaves the app, but not
 * awaited; concurrent placements share one write (Activity.flushSoon).
 */
export function countPlacements(ops: Operations, logger: Logger): MiddlewareHandler {
  return async function placementCounter(c, next) {
    await next();
    const placement = c.get('placement');
    if (!placement || placement.replayed) return;
    ops.metrics.ordersPlaced.inc();
    ops.activity.add('orders_placed');
    ops.activity.flushSoon().catch((error) => logger.warn({ event: 'activity-flush-failed', err: error }));
  };
}

/**
 * Renders the Prometheus text of the whole deployment as this API sees it. Worker nodes publish
 * their registries as JSON through the store on every heartbeat (workers/node-metrics.ts); here the
 * documents of the live nodes are merged with the API's own registry by prom-client's
 * AggregatorRegistry. Worker series carry `node_id`, so merging never sums two nodes into one series.
 */
export function createMetricsRenderer(ops: Operations, logger: Logger) {
  async function refreshGauges(): Promise<string[]> {
    const [shards, nodes] = await Promise.all([shardQueueCounts(ops.queues), ops.nodes.list()]);
    for (const s of shards) {
      const labels = { shard: String(s.shard), queue: s.queue };
      ops.metrics.shardBacklog.set(labels, s.waiting);
      ops.metrics.shardActive.set(labels, s.active);
    }
    ops.metrics.nodesAlive.set(nodes.length);
    return nodes.map((n) => n.id);
  }

  return {
    contentType: ops.metrics.registry.contentType,
    async render(): Promise<string> {
      const nodeIds = await refreshGauges().catch((error) => {
        // Stale gauges beat a failed scrape: Prometheus then still gets the API's own counters.
        logger.warn({ event: 'metrics-gauges-failed', err: error });
        return [] as string[];
      });
      const documents = await ops.exchange.read(nodeIds).catch((error) => {
        logger.warn({ event: 'metrics-read-failed', err: error });
        return [];
      });
      const own = await ops.metrics.registry.getMetricsAsJSON();
      return AggregatorRegistry.aggregate([own, ...documents]).metrics();
    },
  };
}
