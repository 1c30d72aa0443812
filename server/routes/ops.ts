// Operations read-outs: GET /stats (JSON summary), /stats/history (chart series), /shards, /metrics.
import { createRoute, z } from '@hono/zod-openapi';
import type { Keyspace } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../shared/store.js';
import { createMetricsRenderer } from '../metrics.js';
import type { Operations } from '../operations.js';
import { HistoryQuerySchema, HistorySchema, ShardListSchema, StatsSchema } from '../ops-schemas.js';
import { createRouter } from '../router.js';
import { ProblemSchema } from '../schemas.js';
import { readShardMap } from '../shard-map.js';
import { createStatsReader } from '../stats.js';
import { storeReadiness } from './health.js';

export interface OpsRoutesDeps {
  ops: Operations;
  keyspace: Keyspace;
  store: Store;
  logger: Logger;
}

const json = (description: string, schema: z.ZodType) => ({
  description,
  content: { 'application/json': { schema } },
});

/** Every read-out reads the store, so each can answer this (server/read-deadline.ts). */
const storeUnavailable = {
  503: {
    description: 'the store did not answer within the read deadline; see Retry-After',
    content: { 'application/problem+json': { schema: ProblemSchema } },
  },
};

const statsRoute = createRoute({
  method: 'get',
  path: '/stats',
  tags: ['operations'],
  summary: 'Summary: order totals, rates over the last minute, backlog, nodes',
  description:
    'Order totals are cluster-wide store counters since the key namespace was first used: placements ' +
    'counted by the API, completions and failures by the worker nodes. in_flight = placed - completed - failed.',
  responses: { 200: json('the summary', StatsSchema), ...storeUnavailable },
});

const historyRoute = createRoute({
  method: 'get',
  path: '/stats/history',
  tags: ['operations'],
  summary: 'Throughput and failure rate per 10-second bucket over the last minutes',
  request: { query: HistoryQuerySchema },
  responses: { 200: json('chart series', HistorySchema), ...storeUnavailable },
});

const shardsRoute = createRoute({
  method: 'get',
  path: '/shards',
  tags: ['operations'],
  summary: "Each shard's slot, the store master owning it now (CLUSTER SLOTS) and its queue's backlog",
  responses: { 200: json('every shard', ShardListSchema), ...storeUnavailable },
});

const MetricsQuerySchema = z.object({
  scope: z
    .enum(['process', 'cluster'])
    .optional()
    .openapi({
      description:
        'process: only this API process (its placements, its readiness), to scrape on every replica; ' +
        'cluster: every live worker node and the deployment-wide gauges, the same on every replica, to ' +
        'scrape once. Without it: both (one API process).',
    }),
});

const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus text: this API process and/or every live worker node (through the store)',
  description:
    'With several API replicas, scrape `?scope=process` on each and `?scope=cluster` once: every ' +
    "replica re-exports the worker nodes' series, so scraping them on each would multiply them.",
  request: { query: MetricsQuerySchema },
  responses: {
    200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: z.string() } } },
    ...storeUnavailable,
  },
});

/** The operations read-outs; public, like /health: they show counts, never order contents. */
export function createOpsRoutes({ ops, keyspace, store, logger }: OpsRoutesDeps) {
  const stats = createStatsReader(ops);
  const metrics = createMetricsRenderer({
    ops,
    logger,
    readiness: async () => (await storeReadiness(store)).ready,
  });
  const app = createRouter();

  app.openapi(statsRoute, async (c) => c.json(await stats.summary(), 200));
  app.openapi(historyRoute, async (c) => c.json(await stats.history(c.req.valid('query').minutes), 200));
  app.openapi(shardsRoute, async (c) =>
    c.json({ shards: await readShardMap(store, keyspace, ops.queues) }, 200),
  );
  app.openapi(metricsRoute, async (c) =>
    c.text(await metrics.render(c.req.valid('query').scope ?? 'all'), 200, {
      'Content-Type': metrics.contentType,
    }),
  );
  return app;
}
