// Schemas of the operations routes (/nodes, /stats, /shards): documentation in /openapi.json and /docs.
import { z } from '@hono/zod-openapi';

export const NodeSchema = z
  .object({
    id: z.string(),
    host: z.string(),
    pid: z.number().int(),
    version: z.string(),
    concurrency: z.number().int().openapi({ description: 'slots: the most steps the node runs at once' }),
    step_ms: z.number().int().openapi({ description: "how long the node's steps take (its STEP_MS)" }),
    step_failure_rate: z
      .number()
      .openapi({ description: "chance that one of the node's steps fails (its STEP_FAILURE_RATE)" }),
    active: z.number().int().openapi({ description: 'steps in flight at the last heartbeat' }),
    processed: z.number().int(),
    failed: z.number().int(),
    stalled_recovered: z.number().int(),
    lock_lost: z.number().int(),
    state: z.enum(['running', 'draining']),
    store_ok: z.boolean(),
    started_at: z.string(),
    last_seen: z.string(),
  })
  .openapi('Node');

export const NodeListSchema = z.object({ nodes: z.array(NodeSchema) }).openapi('NodeList');

export const NodeIdParamSchema = z.object({
  node_id: z
    .string()
    .regex(/^[\w.-]{1,64}$/)
    .openapi({ example: 'worker-1' }),
});

export const DrainSchema = z
  .object({ node_id: z.string(), status: z.literal('drain-requested'), requested_at: z.string() })
  .openapi('DrainRequest');

const perSecond = z.number().openapi({ description: 'per second over the window' });
const rate = z.number().nullable().openapi({ description: 'failed / finished in the window; null if none' });

export const StatsSchema = z
  .object({
    generated_at: z.string(),
    orders: z
      .object({
        placed: z.number(),
        completed: z.number(),
        failed: z.number(),
        cancelled: z.number(),
        in_flight: z.number(),
      })
      .openapi({ description: 'totals since the key namespace was first used (store counters)' }),
    steps: z.object({ completed: z.number(), failed: z.number() }),
    last_minute: z.object({
      window_seconds: z.number(),
      orders_placed_per_second: perSecond,
      orders_completed_per_second: perSecond,
      orders_failed_per_second: perSecond,
      orders_cancelled_per_second: perSecond,
      steps_per_second: perSecond,
      failure_rate: rate,
      step_failure_rate: rate,
    }),
    backlog: z.object({
      waiting: z.number(),
      active: z.number(),
      delayed: z.number(),
      by_shard: z.array(
        z.object({ shard: z.number(), waiting: z.number(), active: z.number(), delayed: z.number() }),
      ),
    }),
    nodes: z.object({
      alive: z.number(),
      draining: z.number(),
      active_steps: z.number(),
      capacity: z.number(),
    }),
  })
  .openapi('Stats');

const series = (description: string) => z.array(z.number().nullable()).openapi({ description });

export const HistorySchema = z
  .object({
    bucket_seconds: z.number(),
    time: series('start of each bucket, unix seconds; the last bucket is still filling'),
    orders_placed_per_second: series('orders placed per second'),
    orders_completed_per_second: series('orders completed per second'),
    orders_failed_per_second: series('orders failed per second'),
    orders_cancelled_per_second: series('orders cancelled per second'),
    steps_per_second: series('steps finished per second'),
    failure_rate: series('failed / finished orders; null when none finished'),
  })
  .openapi('StatsHistory');

export const HistoryQuerySchema = z.object({
  minutes: z.coerce.number().int().min(1).max(15).default(10),
});

export const ShardSchema = z
  .object({
    shard: z.number().int(),
    queue: z.string(),
    tag: z.string(),
    slot: z.number().int(),
    master: z.string().nullable().openapi({ description: 'host:port of the master owning the slot now' }),
    master_id: z.string().nullable(),
    replicas: z.array(z.string()),
    waiting: z.number().int().openapi({ description: 'backlog: steps waiting for a node' }),
    active: z.number().int(),
    delayed: z.number().int(),
  })
  .openapi('Shard');

export const ShardListSchema = z.object({ shards: z.array(ShardSchema) }).openapi('ShardList');
