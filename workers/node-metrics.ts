// A worker node's telemetry: the StepObserver that feeds its metrics, published on every heartbeat.
import { createActivity } from '../shared/activity.js';
import type { OrderRecord } from '../shared/domain/order.js';
import type { Logger } from '../shared/logger.js';
import { createNodeMetrics } from '../shared/metrics.js';
import { createMetricsExchange } from '../shared/metrics-exchange.js';
import { type NodeStats, registryTtlMs } from '../shared/node-registry.js';
import { type Store, withTimeout } from '../shared/store.js';
import type { StepObserver } from './step-processor.js';

export interface NodeTelemetryDeps {
  store: Store;
  namespace: string;
  nodeId: string;
  heartbeatMs: number;
  logger: Logger;
}

const seconds = (ms: number) => Math.max(0, ms) / 1000;

/**
 * The metrics of one node, the observer that feeds them and the heartbeat hook that publishes them.
 * A heartbeat writes the node's registry as JSON (a few KB) and the activity counted since the last
 * one in a single MULTI; the document expires with the node's registry entry (5 heartbeats).
 */
export function createNodeTelemetry({ store, namespace, nodeId, heartbeatMs, logger }: NodeTelemetryDeps) {
  const metrics = createNodeMetrics(nodeId);
  const activity = createActivity(store, namespace);
  const exchange = createMetricsExchange(store, namespace);
  const ttlMs = registryTtlMs(heartbeatMs);
  const log = logger.child({ node_id: nodeId });

  const orderFinished = (order: OrderRecord) => {
    const outcome = order.status === 'completed' || order.status === 'cancelled' ? order.status : 'failed';
    metrics.ordersFinished.labels(outcome).inc();
    const end = order.completed_at ? Date.parse(order.completed_at) : Date.now();
    metrics.orderDuration.labels(outcome).observe(seconds(end - Date.parse(order.created_at)));
    activity.add(`orders_${outcome}`);
    if (outcome === 'failed') {
      activity.noteFailure({
        order_id: order.order_id,
        user_id: order.user_id,
        shard: order.shard,
        step: order.failure?.step ?? null,
        reason: order.failure?.reason ?? null,
        node_id: nodeId,
        failed_at: order.completed_at ?? new Date().toISOString(),
      });
    }
  };

  const observer: StepObserver = {
    stepStarted: (step, waitMs) => metrics.stepQueueWait.labels(step).observe(seconds(waitMs)),
    stepFinished(step, outcome, durationMs) {
      metrics.stepDuration.labels(step, outcome).observe(seconds(durationMs));
      activity.add(outcome === 'completed' ? 'steps_completed' : 'steps_failed');
    },
    orderFinished,
    lockLost: (step) => metrics.fencingRefusals.labels(step).inc(),
    stalledRecovered: () => metrics.stalledRecoveries.inc(),
  };

  /** Writes the node's metrics and pending activity; a store error only delays them to the next beat. */
  async function publish(stats?: NodeStats): Promise<void> {
    if (stats) {
      metrics.activeSteps.set(stats.active);
      metrics.concurrency.set(stats.concurrency);
    }
    const document = await metrics.registry.getMetricsAsJSON();
    const flushing = activity.flush((multi) => exchange.queuePublish(multi, nodeId, document, ttlMs));
    try {
      // Bounded, so a hanging store never holds up the node's heartbeat loop.
      await withTimeout(flushing, heartbeatMs, 'metrics publish');
    } catch (error) {
      log.warn({ event: 'metrics-publish-failed', err: error });
    }
  }

  return {
    metrics,
    observer,
    /** For `createWorkerNode({ onHeartbeat })`. */
    onHeartbeat: (stats: NodeStats) => publish(stats),
    /** Publishes what is left; run on shutdown after the node closed, before the store does. */
    flush: () => publish(),
  };
}

export type NodeTelemetry = ReturnType<typeof createNodeTelemetry>;
