// A worker node: one gated BullMQ Worker per shard queue, sharing one node-wide gate of slots, with
// the step processor, the reconciler, takeover on death and the heartbeat around them.
import { hostname } from 'node:os';
import type { Tracer } from '@opentelemetry/api';
import type { Config } from '../shared/config.js';
import type { Keyspace } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { NodeRegistry, NodeStats } from '../shared/node-registry.js';
import { createOrderStore } from '../shared/order-store.js';
import { type Store, withTimeout } from '../shared/store.js';
import { createNodeDispatchTrace, traceOrderWrites, traceWorker } from './dispatch-trace.js';
import { NodeGate } from './node-gate.js';
import { createNodeHeartbeat } from './node-heartbeat.js';
import { createReconciler } from './reconciler.js';
import { createShardWorkers, type NodeCounters, zeroCounters } from './shard-workers.js';
import { createStepProcessor, type StepObserver } from './step-processor.js';
import type { StepHandlers } from './steps/contract.js';
import { createTakeover } from './takeover.js';

export type { NodeCounters } from './shard-workers.js';

export type WorkerNodeConfig = Pick<
  Config,
  | 'NODE_ID'
  | 'RECONCILE_INTERVAL_MS'
  | 'SHARDS'
  | 'KEY_NAMESPACE'
  | 'STEP_MS'
  | 'STEP_FAILURE_RATE'
  | 'FAILURE_SEED'
  | 'COMPENSATION_MS'
  | 'WORKER_CONCURRENCY'
  | 'LOCK_MS'
  | 'STALLED_INTERVAL_MS'
  | 'MAX_STEP_CRASHES'
  | 'ORDER_TTL_S'
  | 'HEARTBEAT_MS'
  | 'STORE_WATCHDOG_MS'
  | 'TAKEOVER'
  | 'LIVENESS_MS'
  | 'DEATH_TIMEOUT_MS'
>;

/** What a node is built from; `workerParts` (runtime.ts) makes the defaults. */
export interface WorkerNodeDeps {
  config: WorkerNodeConfig;
  store: Store;
  keyspace: Keyspace;
  registry: NodeRegistry;
  /** The work of each step and its undo (workers/steps/). */
  handlers: StepHandlers;
  /** This run of the node (`newInstance(NODE_ID)`); its lock tokens start with it. */
  instance: string;
  /** The name of `store`'s connections, which CLIENT LIST shows while the process lives. */
  connectionName: string;
  logger: Logger;
  observer?: StepObserver;
  /** Reported in the registry. */
  version?: string;
  now?: () => number;
  /** Called once when an operator asks this node to drain (POST /nodes/:id/drain). */
  onDrainRequested?: () => void;
  /** Called after every heartbeat that reached the store, with what it published. */
  onHeartbeat?: (stats: NodeStats) => Promise<void> | void;
  /** With tracing on: a span per run of a step and per undo, in the order's trace. */
  tracer?: Tracer;
  /** DISPATCH_TRACE=1: log the phases of each hand-over to the next step (workers/dispatch-trace.ts). */
  dispatchTrace?: boolean;
}

/** Builds a node; nothing runs until `start()`. */
export function createWorkerNode(deps: WorkerNodeDeps) {
  const { config, store, keyspace, handlers, instance, observer = {}, now = Date.now } = deps;
  const log = deps.logger.child({ node_id: config.NODE_ID });
  const gate = new NodeGate(config.WORKER_CONCURRENCY);
  const counters: NodeCounters = zeroCounters();
  const startedAt = new Date(now()).toISOString();
  const stepObserver: StepObserver = {
    ...observer,
    lockLost(step) {
      counters.lockLost++;
      observer.lockLost?.(step);
    },
  };
  const dispatchTrace = deps.dispatchTrace ? createNodeDispatchTrace(log) : undefined;
  const orders = createOrderStore(store, keyspace, config.ORDER_TTL_S);
  const processor = createStepProcessor({
    orders: dispatchTrace ? traceOrderWrites(orders, dispatchTrace.trace) : orders,
    nodeId: config.NODE_ID,
    handlers,
    maxStepCrashes: config.MAX_STEP_CRASHES,
    logger: log,
    observer: stepObserver,
    tracer: deps.tracer,
  });
  // Ends the orders whose chain stopped without ending the record (see reconciler.ts).
  const reconciler = createReconciler({
    store,
    keyspace,
    nodeId: config.NODE_ID,
    handlers,
    orderTtlS: config.ORDER_TTL_S,
    maxRollbackCrashes: config.MAX_STEP_CRASHES,
    logger: log,
    observer: stepObserver,
    intervalMs: config.RECONCILE_INTERVAL_MS,
    // Its claim on an order must outlive one compensation between two of its writes.
    claimMs: config.LOCK_MS + config.COMPENSATION_MS,
  });
  const workers = createShardWorkers({
    ...{ config, store, keyspace, processor, gate, instance, counters, log },
    observer,
  });
  if (dispatchTrace) for (const worker of workers) traceWorker(worker, dispatchTrace.trace);
  // With TAKEOVER=lock, a dead node's steps wait for their locks to expire, and nothing beats.
  const takeover =
    config.TAKEOVER === 'registry'
      ? createTakeover({
          config,
          store,
          keyspace,
          instance,
          connectionName: deps.connectionName,
          workers,
          log,
        })
      : undefined;

  let closing: Promise<void> | undefined;
  const stats = (): NodeStats => ({
    id: config.NODE_ID,
    host: hostname(),
    pid: process.pid,
    version: deps.version ?? 'unknown',
    concurrency: config.WORKER_CONCURRENCY,
    step_ms: config.STEP_MS,
    step_failure_rate: config.STEP_FAILURE_RATE,
    active: gate.inUse,
    processed: counters.processed,
    failed: counters.failed,
    stalled_recovered: counters.stalledRecovered,
    lock_lost: counters.lockLost,
    state: closing ? 'draining' : 'running',
    store_ok: heartbeat.storeOk,
    started_at: startedAt,
    last_seen: new Date(now()).toISOString(),
  });
  const heartbeat = createNodeHeartbeat({
    ...{ registry: deps.registry, stats, gate, log, now },
    intervalMs: config.HEARTBEAT_MS,
    watchdogMs: config.STORE_WATCHDOG_MS,
    onHeartbeat: deps.onHeartbeat,
    onDrainRequested: deps.onDrainRequested,
  });

  return {
    nodeId: config.NODE_ID,
    instance,

    /** True while the node takes steps: not draining, store reachable. */
    get ready(): boolean {
      return heartbeat.storeOk && !closing;
    },
    /** True while any of its shard Workers still runs (false once closed). */
    get consuming(): boolean {
      return workers.some((worker) => worker.isRunning());
    },
    /** Steps in flight now. */
    get active(): number {
      return gate.inUse;
    },
    /** What it did since it started, as of now. */
    counts: (): NodeCounters => ({ ...counters }),
    stats,

    /** Starts consuming every shard queue and heartbeating to the registry. */
    start(): void {
      for (const worker of workers) {
        void worker.run().catch((error) => log.error({ event: 'worker-run', err: error }));
      }
      heartbeat.start();
      takeover?.start();
      reconciler.start();
      const { SHARDS: shards, WORKER_CONCURRENCY: concurrency, TAKEOVER: takeoverMode } = config;
      log.info({ event: 'node-started', shards, concurrency, instance, takeover: takeoverMode });
    },

    /**
     * Stops taking steps, lets those in flight finish, closes every Worker and leaves the registry
     * (the store connection is the caller's). Heartbeats go on meanwhile, showing `draining`.
     */
    close(): Promise<void> {
      closing ??= (async () => {
        log.info({ event: 'node-draining', active: gate.inUse });
        gate.close();
        // The reconciler ends the order it is on, if any, and starts no other.
        const results = await Promise.allSettled([...workers.map((w) => w.close()), reconciler.stop()]);
        for (const result of results) {
          if (result.status === 'rejected') log.error({ event: 'worker-close', err: result.reason });
        }
        heartbeat.stop();
        dispatchTrace?.close();
        await takeover?.stop();
        await withTimeout(deps.registry.deregister(config.NODE_ID), 2000, 'deregister').catch((error) =>
          log.warn({ event: 'deregister-failed', err: error }),
        );
        log.info({ event: 'node-stopped', ...counters });
      })();
      return closing;
    },
  };
}

export type WorkerNode = ReturnType<typeof createWorkerNode>;
