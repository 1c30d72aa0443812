// GET /metrics: the API's own metrics, per-scrape gauges and every live worker node's metrics, by scope.
import { AggregatorRegistry, type Counter } from 'prom-client';
import type { ActivityCount } from '../shared/activity.js';
import type { Logger } from '../shared/logger.js';
import type { MetricsJson } from '../shared/metrics-exchange.js';
import type { Operations } from './operations.js';
import { shardQueueCounts } from './shard-map.js';

/**
 * Counts an order the API itself moved (placed when its record is stored, whatever the answer;
 * cancelled before a step started): this process's counter, and the deployment's activity count.
 * The store count is sent at once but not awaited; concurrent counts share one write
 * (Activity.flushSoon).
 */
export function orderCounter(
  ops: Operations,
  logger: Logger,
  counter: Counter,
  activity: ActivityCount,
): () => void {
  return () => {
    counter.inc();
    ops.activity.add(activity);
    ops.activity.flushSoon().catch((error) => logger.warn({ event: 'activity-flush-failed', err: error }));
  };
}

/**
 * What one scrape of GET /metrics covers (`?scope=`):
 * - `process`: the series only this API process knows (its placements, its readiness). Scrape it
 *   on every API replica; each replica's series are its own.
 * - `cluster`: every live worker node's metrics (from the store) and the deployment-wide gauges
 *   (backlog per shard, nodes alive, each node's STEP_FAILURE_RATE). Every replica answers the same
 *   series, so scrape it once (through the service address): scraped on N replicas, every worker
 *   series would be stored N times and every sum over them would be N times the truth.
 * - `all` (no `scope`): both, for a deployment of one API process and for reading by hand.
 * docs/adr/0016-worker-metrics-scraped-once.md has the reasoning.
 */
export type MetricsScope = 'process' | 'cluster' | 'all';

/** The API's own metrics that describe the deployment rather than this process: part of `cluster`. */
const CLUSTER_METRICS: ReadonlySet<string> = new Set([
  'orderflow_shard_backlog_jobs',
  'orderflow_shard_active_jobs',
  'orderflow_nodes_alive',
  'orderflow_node_step_failure_rate',
]);

/** Does `name`, one of the API registry's metrics, belong in `scope`? Anything not cluster-wide is the process's. */
export function inScope(name: string, scope: MetricsScope): boolean {
  if (scope === 'all') return true;
  return CLUSTER_METRICS.has(name) === (scope === 'cluster');
}

export interface MetricsRendererDeps {
  ops: Operations;
  logger: Logger;
  /** Would this process's /ready answer 200 now? (server/routes/health.ts) */
  readiness: () => Promise<boolean>;
}

/**
 * Renders the Prometheus text of one scope (above). Worker nodes publish their registries as JSON
 * through the store on every heartbeat (workers/node-metrics.ts); here the documents of the live
 * nodes are merged with the API's own registry by prom-client's AggregatorRegistry. Worker series
 * carry `node_id`, so merging never sums two nodes into one series.
 */
export function createMetricsRenderer({ ops, logger, readiness }: MetricsRendererDeps) {
  const { metrics } = ops;

  /** Sets the deployment-wide gauges from the store; resolves with the ids of the live nodes. */
  async function refreshClusterGauges(): Promise<string[]> {
    const [shards, nodes] = await Promise.all([shardQueueCounts(ops.queues), ops.nodes.list()]);
    for (const s of shards) {
      const labels = { shard: String(s.shard), queue: s.queue };
      metrics.shardBacklog.set(labels, s.waiting);
      metrics.shardActive.set(labels, s.active);
    }
    metrics.nodesAlive.set(nodes.length);
    // Reset first, in the same tick as the sets: a node that left ends its series.
    metrics.nodeStepFailureRate.reset();
    for (const node of nodes) metrics.nodeStepFailureRate.set({ node_id: node.id }, node.step_failure_rate);
    return nodes.map((n) => n.id);
  }

  async function clusterDocuments(): Promise<MetricsJson[]> {
    const nodeIds = await refreshClusterGauges().catch((error) => {
      // Stale gauges beat a failed scrape: Prometheus then still gets the API's own counters.
      logger.warn({ event: 'metrics-gauges-failed', err: error });
      return [] as string[];
    });
    return ops.exchange.read(nodeIds).catch((error) => {
      logger.warn({ event: 'metrics-read-failed', err: error });
      return [];
    });
  }

  async function refreshReadiness(): Promise<void> {
    const ready = await readiness().catch(() => false);
    metrics.apiReady.set(ready ? 1 : 0);
  }

  return {
    contentType: metrics.registry.contentType,
    async render(scope: MetricsScope = 'all'): Promise<string> {
      const [documents] = await Promise.all([
        scope === 'process' ? Promise.resolve([]) : clusterDocuments(),
        scope === 'cluster' ? Promise.resolve() : refreshReadiness(),
      ]);
      const own = (await metrics.registry.getMetricsAsJSON()).filter((m) => inScope(m.name, scope));
      return AggregatorRegistry.aggregate([own, ...documents]).metrics();
    },
  };
}
