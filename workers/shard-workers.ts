// A node's shard consumers: one GatedWorker per shard queue behind the node's gate, and what their events count and log.
import type { Job } from 'bullmq';
import type { Config } from '../shared/config.js';
import type { Keyspace } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { StepJobData } from '../shared/order-flow.js';
import { parseStepJobId } from '../shared/order-id.js';
import type { Store } from '../shared/store.js';
import { GatedWorker } from './gated-worker.js';
import type { NodeGate } from './node-gate.js';
import {
  type createStepProcessor,
  LOCK_RENEWAL_FAILED,
  LockLostError,
  type StepObserver,
} from './step-processor.js';

/** Counters of what a node did since it started. */
export interface NodeCounters {
  processed: number;
  failed: number;
  lockLost: number;
  stalledRecovered: number;
}

export const zeroCounters = (): NodeCounters => ({
  processed: 0,
  failed: 0,
  lockLost: 0,
  stalledRecovered: 0,
});

export interface ShardWorkersDeps {
  config: Pick<Config, 'NODE_ID' | 'LOCK_MS' | 'STALLED_INTERVAL_MS' | 'MAX_STEP_CRASHES'>;
  store: Store;
  keyspace: Keyspace;
  processor: ReturnType<typeof createStepProcessor>;
  gate: NodeGate;
  /** This run of the node: every lock its Workers take names it (see takeover-store.ts). */
  instance: string;
  /** Counted into as the Workers complete, fail and recover steps. */
  counters: NodeCounters;
  observer: StepObserver;
  log: Logger;
}

/** One Worker per shard, index = shard, built with `autorun: false`: nothing runs until `run()`. */
export function createShardWorkers(deps: ShardWorkersDeps): GatedWorker<StepJobData>[] {
  const { config, counters, observer, log } = deps;
  return deps.keyspace.all().map((keys) => {
    const worker = new GatedWorker<StepJobData>(
      keys.queueName,
      deps.processor,
      {
        connection: deps.store,
        prefix: keys.queuePrefix,
        autorun: false,
        lockDuration: config.LOCK_MS,
        stalledInterval: config.STALLED_INTERVAL_MS,
        // BullMQ fails a job stalled past this without calling the processor, so without a rollback;
        // the processor fails the step (and rolls back) at MAX_STEP_CRASHES, well before that.
        maxStalledCount: config.MAX_STEP_CRASHES + 3,
        name: config.NODE_ID,
      },
      deps.gate,
      `${deps.instance}/s${keys.shard}`,
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
}
