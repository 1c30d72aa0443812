// A worker node: one gated BullMQ Worker per shard queue, sharing one node-wide gate of slots.
import type { Job } from 'bullmq';
import type { Config } from '../shared/config.js';
import { createFailurePolicy } from '../shared/domain/failure-policy.js';
import { createKeyspace } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { StepJobData } from '../shared/order-flow.js';
import { createOrderStore } from '../shared/order-store.js';
import type { Store } from '../shared/store.js';
import { GatedWorker } from './gated-worker.js';
import { NodeGate } from './node-gate.js';
import { createStepProcessor, LockLostError, type StepObserver } from './step-processor.js';

export type WorkerNodeConfig = Pick<
  Config,
  | 'NODE_ID'
  | 'SHARDS'
  | 'KEY_NAMESPACE'
  | 'STEP_MS'
  | 'STEP_FAILURE_RATE'
  | 'FAILURE_SEED'
  | 'FAILURE_DIRECTIVES'
  | 'COMPENSATION_MS'
  | 'WORKER_CONCURRENCY'
  | 'LOCK_MS'
  | 'STALLED_INTERVAL_MS'
  | 'MAX_STEP_CRASHES'
  | 'ORDER_TTL_S'
>;

export interface WorkerNodeDeps {
  config: WorkerNodeConfig;
  store: Store;
  logger: Logger;
  observer?: StepObserver;
}

/** Counters of what this node did since it started. */
export interface NodeCounters {
  processed: number;
  failed: number;
  lockLost: number;
}

/** Builds a node; nothing runs until `start()`. */
export function createWorkerNode({ config, store, logger, observer = {} }: WorkerNodeDeps) {
  const log = logger.child({ node_id: config.NODE_ID });
  const gate = new NodeGate(config.WORKER_CONCURRENCY);
  const counters: NodeCounters = { processed: 0, failed: 0, lockLost: 0 };
  const keyspace = createKeyspace(config.SHARDS, config.KEY_NAMESPACE);
  const processor = createStepProcessor({
    orders: createOrderStore(store, keyspace, config.ORDER_TTL_S),
    nodeId: config.NODE_ID,
    stepMs: config.STEP_MS,
    compensationMs: config.COMPENSATION_MS,
    maxStepCrashes: config.MAX_STEP_CRASHES,
    failureOf: createFailurePolicy({
      rate: config.STEP_FAILURE_RATE,
      seed: config.FAILURE_SEED,
      directives: config.FAILURE_DIRECTIVES,
    }),
    logger: log,
    observer: {
      ...observer,
      lockLost(step) {
        counters.lockLost++;
        observer.lockLost?.(step);
      },
    },
  });

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
        // Above MAX_STEP_CRASHES so that the processor, which rolls the order back, fails the step first.
        maxStalledCount: config.MAX_STEP_CRASHES + 2,
        name: config.NODE_ID,
      },
      gate,
    );
    worker.on('completed', () => counters.processed++);
    worker.on('failed', (job: Job<StepJobData> | undefined, error: Error) => {
      if (error instanceof LockLostError) return;
      counters.failed++;
      const fields = { order_id: job?.data.order_id, shard: keys.shard, step: job?.data.step };
      log.info({ event: 'job-failed', ...fields, reason: error.message });
    });
    worker.on('stalled', (jobId: string) =>
      log.warn({ event: 'step-stalled', shard: keys.shard, job_id: jobId }),
    );
    worker.on('lockRenewalFailed', (jobIds: string[]) =>
      log.warn({ event: 'lock-renewal-failed', shard: keys.shard, job_ids: jobIds }),
    );
    worker.on('error', (error: Error) => log.error({ event: 'worker-error', shard: keys.shard, err: error }));
    return worker;
  });

  let closing: Promise<void> | undefined;
  return {
    nodeId: config.NODE_ID,
    gate,
    counters,
    workers,

    /** Starts consuming every shard queue. */
    start(): void {
      for (const worker of workers)
        void worker.run().catch((error) => log.error({ event: 'worker-run', err: error }));
      log.info({ event: 'node-started', shards: config.SHARDS, concurrency: config.WORKER_CONCURRENCY });
    },

    /** Stops taking steps, lets those in flight finish, and closes every Worker (not the store). */
    close(): Promise<void> {
      closing ??= (async () => {
        log.info({ event: 'node-draining', active: gate.inUse });
        gate.close();
        const results = await Promise.allSettled(workers.map((worker) => worker.close()));
        for (const result of results) {
          if (result.status === 'rejected') log.error({ event: 'worker-close', err: result.reason });
        }
        log.info({ event: 'node-stopped', ...counters });
      })();
      return closing;
    },
  };
}

export type WorkerNode = ReturnType<typeof createWorkerNode>;
