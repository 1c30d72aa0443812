// A worker node: one gated BullMQ Worker per shard queue, sharing one node-wide gate of slots.
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import type { Config } from '../shared/config.js';
import { createKeyspace } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { createNodeRegistry, type NodeStats, registryTtlMs } from '../shared/node-registry.js';
import type { StepJobData } from '../shared/order-flow.js';
import { parseStepJobId } from '../shared/order-id.js';
import { createOrderStore } from '../shared/order-store.js';
import { type Store, withTimeout } from '../shared/store.js';
import { GatedWorker } from './gated-worker.js';
import { NodeGate } from './node-gate.js';
import { createReconciler } from './reconciler.js';
import {
  createStepProcessor,
  LOCK_RENEWAL_FAILED,
  LockLostError,
  type StepObserver,
} from './step-processor.js';
import type { StepHandlers } from './steps/contract.js';
import { simulatedHandlers } from './steps/simulated.js';
import { createTakeover, newInstance } from './takeover.js';

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

export interface WorkerNodeDeps {
  config: WorkerNodeConfig;
  store: Store;
  logger: Logger;
  observer?: StepObserver;
  /** The work of each step and its undo (workers/steps/); default: the simulated steps of `config`. */
  handlers?: StepHandlers;
  /** Reported in the registry. */
  version?: string;
  /** Called once when an operator asks this node to drain (POST /nodes/:id/drain). */
  onDrainRequested?: () => void;
  /** Called after every heartbeat that reached the store, with what it published. */
  onHeartbeat?: (stats: NodeStats) => Promise<void> | void;
  /** This run of the node (`newInstance(NODE_ID)`); its lock tokens start with it. */
  instance?: string;
  /** The name of `store`'s connections, which CLIENT LIST shows while the process lives. */
  connectionName?: string;
}

/** Counters of what this node did since it started. */
export interface NodeCounters {
  processed: number;
  failed: number;
  lockLost: number;
  stalledRecovered: number;
}

/** Builds a node; nothing runs until `start()`. */
export function createWorkerNode(deps: WorkerNodeDeps) {
  const { config, store, logger, observer = {} } = deps;
  const log = logger.child({ node_id: config.NODE_ID });
  const gate = new NodeGate(config.WORKER_CONCURRENCY);
  const counters: NodeCounters = { processed: 0, failed: 0, lockLost: 0, stalledRecovered: 0 };
  const registry = createNodeRegistry(store, config.KEY_NAMESPACE, {
    ttlMs: registryTtlMs(config.HEARTBEAT_MS),
  });
  const startedAt = new Date().toISOString();
  const keyspace = createKeyspace(config.SHARDS, config.KEY_NAMESPACE);
  const stepObserver: StepObserver = {
    ...observer,
    lockLost(step) {
      counters.lockLost++;
      observer.lockLost?.(step);
    },
  };
  const handlers = deps.handlers ?? simulatedHandlers(config);
  const processor = createStepProcessor({
    orders: createOrderStore(store, keyspace, config.ORDER_TTL_S),
    nodeId: config.NODE_ID,
    handlers,
    maxStepCrashes: config.MAX_STEP_CRASHES,
    logger: log,
    observer: stepObserver,
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

  const instance = deps.instance ?? newInstance(config.NODE_ID);
  const workers = keyspace.all().map((keys) => {
    const worker = new GatedWorker<StepJobData>(
      keys.queueName,
      processor,
      {
        connection: store,
        prefix: keys.queuePrefix,
        autorun: false,
        lockDuration: config.LOCK_MS,
        stalledInterval: config.STALLED_INTERVAL_MS,
        // BullMQ fails a job stalled past this without calling the processor, so without a rollback;
        // the processor fails the step (and rolls back) at MAX_STEP_CRASHES, well before that.
        maxStalledCount: config.MAX_STEP_CRASHES + 3,
        name: config.NODE_ID,
      },
      gate,
      // Every lock this Worker takes names this run of the node (see takeover-store.ts).
      `${instance}/s${keys.shard}`,
    );
    worker.on('completed', () => counters.processed++);
    worker.on('failed', (job: Job<StepJobData> | undefined, error: Error) => {
      if (error instanceof LockLostError) return;
      counters.failed++;
      const fields = { order_id: job?.data.order_id, shard: keys.shard, step: job?.data.step };
      log.info({ event: 'job-failed', ...fields, attempt: job?.attemptsStarted, reason: error.message });
    });
    // This node's stalled check found a step whose node had died and put it back to run.
    worker.on('stalled', (jobId: string) => {
      counters.stalledRecovered++;
      observer.stalledRecovered?.();
      log.warn({ event: 'step-stalled', shard: keys.shard, job_id: jobId, ...parseStepJobId(jobId) });
    });
    worker.on('lockRenewalFailed', (jobIds: string[]) => {
      log.warn({
        event: 'lock-renewal-failed',
        shard: keys.shard,
        order_ids: jobIds.map((id) => parseStepJobId(id)?.order_id ?? id),
      });
      // Another run may own these steps now: their handlers are told to stop (the run's signal).
      for (const jobId of jobIds) worker.cancelJob(jobId, LOCK_RENEWAL_FAILED);
    });
    worker.on('error', (error: Error) => log.error({ event: 'worker-error', shard: keys.shard, err: error }));
    return worker;
  });

  // With TAKEOVER=lock, a dead node's steps wait for their locks to expire, and nothing beats.
  const takeover =
    config.TAKEOVER === 'registry'
      ? createTakeover({
          config,
          store,
          keyspace,
          instance,
          connectionName: deps.connectionName ?? '',
          workers,
          log,
        })
      : undefined;

  let closing: Promise<void> | undefined;
  let storeOkSince = Date.now();
  let storeOk = true;
  let drainAsked = false;

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
    store_ok: storeOk,
    started_at: startedAt,
    last_seen: new Date().toISOString(),
  });

  /** One heartbeat; the watchdog pauses the gate while the store stays unreachable. */
  async function beat(): Promise<void> {
    try {
      const published = stats();
      const { drainRequested } = await withTimeout(
        registry.heartbeat(published),
        config.HEARTBEAT_MS,
        'heartbeat',
      );
      storeOkSince = Date.now();
      if (!storeOk) {
        storeOk = true;
        gate.resume();
        log.info({ event: 'store-back', action: 'taking steps again' });
      }
      await deps.onHeartbeat?.(published);
      if (drainRequested && !drainAsked) {
        drainAsked = true;
        log.info({ event: 'drain-requested' });
        deps.onDrainRequested?.();
      }
    } catch (error) {
      const downMs = Date.now() - storeOkSince;
      if (storeOk && downMs >= config.STORE_WATCHDOG_MS) {
        storeOk = false;
        gate.pause();
        log.error({
          event: 'store-unreachable',
          down_ms: downMs,
          action: 'no new steps until it answers',
          err: error,
        });
      }
    }
  }

  let heartbeat: NodeJS.Timeout | undefined;
  return {
    nodeId: config.NODE_ID,
    gate,
    counters,
    workers,

    /** True while the node takes steps: not draining, store reachable. */
    get ready(): boolean {
      return storeOk && !closing;
    },
    stats,

    /** Starts consuming every shard queue and heartbeating to the registry. */
    start(): void {
      for (const worker of workers) {
        void worker.run().catch((error) => log.error({ event: 'worker-run', err: error }));
      }
      void beat();
      heartbeat = setInterval(() => void beat(), config.HEARTBEAT_MS);
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
        clearInterval(heartbeat);
        await takeover?.stop();
        await withTimeout(registry.deregister(config.NODE_ID), 2000, 'deregister').catch((error) =>
          log.warn({ event: 'deregister-failed', err: error }),
        );
        log.info({ event: 'node-stopped', ...counters });
      })();
      return closing;
    },
  };
}

export type WorkerNode = ReturnType<typeof createWorkerNode>;
