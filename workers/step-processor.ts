// Runs one step of an order under its BullMQ lock, every record write fenced by that lock.
import { type Job, UnrecoverableError } from 'bullmq';
import type { FailurePolicy } from '../shared/domain/failure-policy.js';
import { type OrderRecord, STEPS, type StepName } from '../shared/domain/order.js';
import {
  completeCompensation,
  completeStep,
  erroredStep,
  failStep,
  finishRollback,
  pendingCompensations,
  planStep,
  startCompensation,
  startStep,
} from '../shared/domain/transitions.js';
import type { Logger } from '../shared/logger.js';
import type { StepJobData } from '../shared/order-flow.js';
import type { OrderStore, VersionedOrder } from '../shared/order-store.js';

/** This run no longer holds the step's lock: another run owns the order now, so this one stops. */
export class LockLostError extends Error {
  constructor(jobId: string, outcome: string) {
    super(`lost the lock of ${jobId} (${outcome}); run abandoned without writing`);
    this.name = this.constructor.name;
  }
}

/** What the pipeline reports to metrics; every callback is optional. */
export interface StepObserver {
  /** A run of `step` committed its start, `waitMs` after the job was created or last retried. */
  stepStarted?(step: StepName, waitMs: number): void;
  stepFinished?(step: StepName, outcome: 'completed' | 'failed', durationMs: number): void;
  orderFinished?(order: OrderRecord): void;
  lockLost?(step: StepName): void;
  /** This node found a step whose node had died and put it back to run. */
  stalledRecovered?(): void;
}

/** A record taken from this node's cache was older than the store's: read it again and start over. */
class StaleRecordError extends Error {}

/**
 * The records this node wrote last, by order id: the next step of an order usually runs on the node
 * that completed the previous one (the slot passes to it), which then starts from the record it
 * wrote instead of reading it back. Safe because every write is fenced by version: a stale copy
 * makes the first write a conflict, and the run reads the record and starts over.
 */
function createRecentRecords(limit: number) {
  const records = new Map<string, VersionedOrder>();
  return {
    /** Removes and returns the copy of `orderId`, if any. */
    take(orderId: string): VersionedOrder | undefined {
      const found = records.get(orderId);
      if (found) records.delete(orderId);
      return found;
    },
    remember(written: VersionedOrder): void {
      const { order } = written;
      records.delete(order.order_id);
      if (order.status === 'completed' || order.status === 'failed') return;
      records.set(order.order_id, written);
      if (records.size > limit) records.delete(records.keys().next().value!);
    },
  };
}

export interface StepProcessorDeps {
  /** Only reads and fenced writes: a step never creates, lists or indexes records. */
  orders: Pick<OrderStore, 'read' | 'fencedWrite'>;
  nodeId: string;
  stepMs: number;
  compensationMs: number;
  maxStepCrashes: number;
  failureOf: FailurePolicy;
  logger: Logger;
  observer?: StepObserver;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** Records kept for the next step of the same order (0: always read from the store). */
  recentRecords?: number;
}

export interface StepResult {
  step: StepName;
  outcome: 'completed';
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The BullMQ processor of every step queue of a node. */
export function createStepProcessor(deps: StepProcessorDeps) {
  const { orders, nodeId, observer = {} } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const now = deps.now ?? (() => new Date());
  const recent = createRecentRecords(deps.recentRecords ?? 1000);

  return async function processStep(job: Job<StepJobData>, token?: string): Promise<StepResult> {
    try {
      return await runStep(job, token, true);
    } catch (error) {
      if (error instanceof StaleRecordError) return runStep(job, token, false);
      throw error;
    }
  };

  async function runStep(
    job: Job<StepJobData>,
    token: string | undefined,
    useCache: boolean,
  ): Promise<StepResult> {
    const { order_id, step } = job.data;
    const jobId = job.id!;
    const log = deps.logger.child({
      order_id,
      shard: job.data.shard,
      step,
      attempt: job.attemptsStarted,
      job_id: jobId,
    });
    if (!token) throw new Error('BullMQ passed no lock token');

    let fromCache = false;
    const write = async (current: VersionedOrder, next: OrderRecord): Promise<VersionedOrder> => {
      const result = await orders.fencedWrite(jobId, token, current, next);
      if (result.written) {
        fromCache = false;
        recent.remember(result.written);
        return result.written;
      }
      if (fromCache && result.outcome === 'conflict') {
        log.debug({ event: 'cached-record-stale' });
        throw new StaleRecordError();
      }
      observer.lockLost?.(step);
      log.warn(
        { event: 'lock-lost', outcome: result.outcome },
        'fenced write refused: lock lost, abandoning run',
      );
      throw new LockLostError(jobId, result.outcome);
    };

    const rollBack = async (current: VersionedOrder): Promise<never> => {
      for (const undo of pendingCompensations(current.order)) {
        current = await write(current, startCompensation(current.order, undo, nodeId, now()));
        log.info({ event: 'compensation-started', compensated_step: undo });
        await sleep(deps.compensationMs);
        current = await write(current, completeCompensation(current.order, undo, now()));
      }
      current = await write(current, finishRollback(current.order, now()));
      observer.orderFinished?.(current.order);
      log.info({ event: 'order-failed', reason: current.order.failure?.reason });
      throw new UnrecoverableError(current.order.failure?.reason ?? `${step} failed`);
    };

    const failAndRollBack = async (current: VersionedOrder, reason: string, startedAt: number) => {
      const failed = await write(current, failStep(current.order, step, nodeId, now(), reason));
      observer.stepFinished?.(step, 'failed', Date.now() - startedAt);
      log.info({ event: 'step-failed', reason });
      return rollBack(failed);
    };

    // A cached copy only for a step that would run: any other plan is decided on the stored record.
    const cached = useCache ? recent.take(order_id) : undefined;
    fromCache = cached !== undefined && planStep(cached.order, step).kind === 'run';
    let current = fromCache ? cached : await orders.read(order_id);
    if (!current) throw new UnrecoverableError(`order ${order_id} has no record (expired or never stored)`);
    const plan = planStep(current.order, step);
    switch (plan.kind) {
      case 'done':
        log.info({ event: 'step-already-committed' });
        return { step, outcome: 'completed' };
      case 'failed':
        throw new UnrecoverableError(current.order.failure?.reason ?? `${step} failed`);
      case 'refuse':
        throw new UnrecoverableError(`${step} cannot run: ${plan.reason}`);
      case 'resume-rollback':
        log.info({ event: 'rollback-resumed' });
        return rollBack(current);
    }

    const startedAt = Date.now();
    const record = current.order.steps.find((s) => s.name === step)!;
    // Runs lost to dead nodes: the record counts those that got as far as their start write,
    // BullMQ's stall counter also those that died before it.
    const inRecord = record.attempts.filter(
      (a) => a.outcome === 'running' || a.outcome === 'abandoned',
    ).length;
    const crashed = Math.max(inRecord, job.stalledCounter ?? 0);
    if (crashed >= deps.maxStepCrashes) {
      return failAndRollBack(
        current,
        `${step} lost its node ${crashed} times (limit ${deps.maxStepCrashes})`,
        startedAt,
      );
    }

    // Every job of a chain is created at placement: a later step waited from its predecessor's end.
    const previousEnd = current.order.steps[STEPS.indexOf(step) - 1]?.completed_at;
    const readyAt = previousEnd ? Date.parse(previousEnd) : job.timestamp;
    current = await write(current, startStep(current.order, step, nodeId, now()));
    observer.stepStarted?.(step, Math.max(0, (job.processedOn ?? Date.now()) - readyAt));
    log.info({ event: 'step-started' });
    try {
      await sleep(deps.stepMs);
      const failure = deps.failureOf(current.order, step);
      if (failure) return await failAndRollBack(current, failure, startedAt);
      current = await write(current, completeStep(current.order, step, nodeId, now()));
    } catch (error) {
      if (!(error instanceof UnrecoverableError || error instanceof LockLostError)) {
        // An infrastructure error: BullMQ retries with backoff; record the attempt's end if we still can.
        log.warn({ event: 'step-error', err: error });
        await write(current, erroredStep(current.order, step, nodeId, now())).catch(() => undefined);
      }
      throw error;
    }
    observer.stepFinished?.(step, 'completed', Date.now() - startedAt);
    log.info({ event: 'step-completed' });
    if (current.order.status === 'completed') {
      observer.orderFinished?.(current.order);
      const durationMs = Date.parse(current.order.completed_at!) - Date.parse(current.order.created_at);
      log.info({ event: 'order-completed', duration_ms: durationMs });
    }
    return { step, outcome: 'completed' };
  }
}
