// Prometheus metric definitions (prom-client), each set in a registry of its own: nothing global.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { STEPS } from './domain/order.js';

const PREFIX = 'orderflow_';

// Steps take STEP_MS (5 s by default, milliseconds in tests), so buckets span both.
const STEP_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 15, 30, 60];
const WAIT_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const ORDER_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

/**
 * The metrics of one worker node. Every series carries a `node_id` label (a registry default
 * label), so when the API merges the nodes' registries a node that leaves ends its series instead
 * of making a summed counter go backwards.
 */
export function createNodeMetrics(nodeId: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ node_id: nodeId });
  const registers = [registry];
  const stepDuration = new Histogram({
    name: `${PREFIX}step_duration_seconds`,
    help: 'Time from a step run committing its start to its end, by step and outcome',
    labelNames: ['step', 'outcome'] as const,
    buckets: STEP_BUCKETS,
    registers,
  });
  const stepQueueWait = new Histogram({
    name: `${PREFIX}step_queue_wait_seconds`,
    help: 'Time a step job waited from its creation (or last retry) until a node started it',
    labelNames: ['step'] as const,
    buckets: WAIT_BUCKETS,
    registers,
  });
  // Zero series for every step, so dashboards and rate() see them before the first order.
  for (const step of STEPS) {
    for (const outcome of ['completed', 'failed'] as const) stepDuration.labels(step, outcome);
    stepQueueWait.labels(step);
  }
  return {
    registry,
    ordersFinished: new Counter({
      name: `${PREFIX}orders_finished_total`,
      help: 'Orders that reached a terminal status on this node, by outcome (completed, failed or cancelled)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    orderDuration: new Histogram({
      name: `${PREFIX}order_duration_seconds`,
      help: 'End-to-end time of an order, from placement to its terminal status, by outcome',
      labelNames: ['outcome'] as const,
      buckets: ORDER_BUCKETS,
      registers,
    }),
    stepDuration,
    stepQueueWait,
    stalledRecoveries: new Counter({
      name: `${PREFIX}stalled_recoveries_total`,
      help: 'Steps of a dead node that this node found stalled and put back to run',
      registers,
    }),
    fencingRefusals: new Counter({
      name: `${PREFIX}fencing_refusals_total`,
      help: 'Record writes refused because the run no longer held the step lock (run abandoned)',
      labelNames: ['step'] as const,
      registers,
    }),
    activeSteps: new Gauge({
      name: `${PREFIX}node_active_steps`,
      help: 'Steps in flight on the node (slots of its gate in use), as of its last heartbeat',
      registers,
    }),
    concurrency: new Gauge({
      name: `${PREFIX}node_concurrency`,
      help: 'Slots of the node: the most steps it runs at once',
      registers,
    }),
  };
}

export type NodeMetrics = ReturnType<typeof createNodeMetrics>;

/** The metrics the API process itself owns; the backlog and node gauges are set on every scrape. */
export function createApiMetrics() {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    ordersPlaced: new Counter({
      name: `${PREFIX}orders_placed_total`,
      help: 'Orders this API process stored, counted when the record is written whatever the answer (a replay stores nothing)',
      registers,
    }),
    ordersCancelledAtOnce: new Counter({
      name: `${PREFIX}orders_cancelled_at_once_total`,
      help: 'Orders this API process ended cancelled itself, before any step started (the others end on a node: orders_finished_total{outcome="cancelled"})',
      registers,
    }),
    shardBacklog: new Gauge({
      name: `${PREFIX}shard_backlog_jobs`,
      help: "Step jobs waiting in a shard's queue for a node, read at scrape time",
      labelNames: ['shard', 'queue'] as const,
      registers,
    }),
    shardActive: new Gauge({
      name: `${PREFIX}shard_active_jobs`,
      help: "Step jobs running from a shard's queue, read at scrape time",
      labelNames: ['shard', 'queue'] as const,
      registers,
    }),
    nodesAlive: new Gauge({
      name: `${PREFIX}nodes_alive`,
      help: 'Worker nodes with a live registry entry, read at scrape time',
      registers,
    }),
    nodeStepFailureRate: new Gauge({
      name: `${PREFIX}node_step_failure_rate`,
      help: "Each live node's STEP_FAILURE_RATE (the chance that one step run fails), from its registry entry at scrape time",
      labelNames: ['node_id'] as const,
      registers,
    }),
    apiReady: new Gauge({
      name: `${PREFIX}api_ready`,
      help: "1 while this API process's /ready would answer 200 (store answers, cluster ok), else 0; read at scrape time",
      registers,
    }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
