// Runs one step of an order under its BullMQ lock, every record write fenced by that lock. The
// step's work is its handler's (workers/steps/): this file knows the saga, not what a step does.
import type { Tracer } from '@opentelemetry/api';
import { type Job, UnrecoverableError } from 'bullmq';
import { type OrderRecord, STEPS, type StepName } from '../shared/domain/order.js';
import { completeStep, erroredRun, failStep, planStep, startStep } from '../shared/domain/transitions.js';
import type { Logger } from '../shared/logger.js';
import type { StepJobData } from '../shared/order-flow.js';
import type { OrderStore, VersionedOrder } from '../shared/order-store.js';
import { createCancelWatch } from './cancel-watch.js';
import { moveOf } from './completion-move.js';
import {
  CancelRequestedError,
  createRecentRecords,
  createRunWriter,
  LockLostError,
  StaleRecordError,
} from './run-writer.js';
import { cancellable, cancelRun } from './step-cancel.js';
import { endedReason, type RollbackRun, resumeRollback, rollBack } from './step-rollback.js';
import { traceAbandonedRuns, traceStepRun } from './step-spans.js';
import type { StepHandlers } from './steps/contract.js';
import { contextOf, endsRun, follow, invoke } from './steps/invoke.js';

export { LockLostError } from './run-writer.js';
export { LOCK_RENEWAL_FAILED } from './steps/invoke.js';

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

export interface StepProcessorDeps {
  /**
   * Only reads and fenced writes: a step never creates, lists or indexes records. With
   * `cancelRequested`, a running handler is stopped within a tick of a cancel request (cancel-watch.ts).
   */
  orders: Pick<OrderStore, 'read' | 'fencedWrite'> &
    Partial<Pick<OrderStore, 'cancelRequested' | 'completeWithMove'>>;
  nodeId: string;
  /** The work of each step and its undo. */
  handlers: StepHandlers;
  maxStepCrashes: number;
  /** Runs of one rollback lost to dead nodes before it is given up (default: maxStepCrashes). */
  maxRollbackCrashes?: number;
  /** Waits before each resend of a write whose reply was lost (default 100, 500, 2000 ms). */
  resendDelaysMs?: readonly number[];
  logger: Logger;
  observer?: StepObserver;
  now?: () => Date;
  /** Records kept for the next step of the same order (0: always read from the store). */
  recentRecords?: number;
  /** With tracing on: a span per run and per undo (workers/step-spans.ts). Absent: none is started. */
  tracer?: Tracer;
}

export interface StepResult {
  step: StepName;
  outcome: 'completed';
}

/** The BullMQ processor of every step queue of a node. */
export function createStepProcessor(deps: StepProcessorDeps) {
  const { orders, nodeId, handlers, observer = {}, tracer } = deps;
  const now = deps.now ?? (() => new Date());
  const recent = createRecentRecords(deps.recentRecords ?? 1000);
  const poll = orders.cancelRequested?.bind(orders);
  const cancelWatch = poll && createCancelWatch({ poll, log: deps.logger });

  // Three parameters, so that BullMQ gives each job an AbortSignal (it checks the processor's length).
  return async function processStep(
    job: Job<StepJobData>,
    token?: string,
    jobSignal?: AbortSignal,
  ): Promise<StepResult> {
    const run = async () => {
      // One signal per run of the job, across the re-read below: a handler stops when it aborts.
      const stop = new AbortController();
      const unfollow = follow(jobSignal, stop, job.id!);
      try {
        return await runStep(job, token, stop, true);
      } catch (error) {
        if (error instanceof StaleRecordError) return runStep(job, token, stop, false);
        throw error;
      } finally {
        unfollow();
      }
    };
    return tracer ? traceStepRun(tracer, job, nodeId, run) : run();
  };

  async function runStep(
    job: Job<StepJobData>,
    token: string | undefined,
    stop: AbortController,
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

    // A cached copy only for a step that would run: any other plan is decided on the stored record.
    const cached = useCache ? recent.take(order_id) : undefined;
    const fromCache = cached !== undefined && planStep(cached.order, step).kind === 'run';
    const current = fromCache ? cached : await orders.read(order_id);
    if (!current) throw new UnrecoverableError(`order ${order_id} has no record (expired or never stored)`);
    const writer = createRunWriter({
      orders,
      jobId,
      token,
      step,
      log,
      lockLost: (lost, error) => {
        observer.lockLost?.(lost);
        stop.abort(error);
      },
      recent,
      resendDelaysMs: deps.resendDelaysMs ?? [100, 500, 2000],
      start: current,
      fromCache,
    });
    const { write } = writer;
    const rollback: RollbackRun = {
      step,
      nodeId,
      write,
      log,
      observer,
      now,
      handlers,
      signal: stop.signal,
      maxRollbackCrashes: deps.maxRollbackCrashes ?? deps.maxStepCrashes,
      tracer,
    };

    /** If the order is to be cancelled meanwhile, `go` gives way to the cancel (step-cancel.ts). */
    const orCancel = <T>(go: () => Promise<T>, workDone = false) =>
      cancellable(go, () => cancelRun(rollback, orders, order_id, workDone));

    const failAndRollBack = async (current: VersionedOrder, reason: string, startedAt: number) => {
      const failed = await write(current, failStep(current.order, step, nodeId, now(), reason));
      observer.stepFinished?.(step, 'failed', Date.now() - startedAt);
      log.info({ event: 'step-failed', reason });
      return rollBack(rollback, failed);
    };

    const plan = planStep(current.order, step);
    switch (plan.kind) {
      case 'done':
        log.info({ event: 'step-already-committed' });
        return { step, outcome: 'completed' };
      case 'failed':
        throw new UnrecoverableError(endedReason(current.order, step));
      case 'refuse':
        throw new UnrecoverableError(`${step} cannot run: ${plan.reason}`);
    }

    try {
      if (plan.kind === 'resume-rollback') return await resumeRollback(rollback, current);
      return await runPlanned(current);
    } catch (error) {
      if (error instanceof LockLostError && error.outcome === 'renewal-failed') {
        // A refused write logs itself (run-writer); this run stopped before it wrote anything more.
        log.warn({ event: 'lock-lost', outcome: error.outcome }, 'lock not renewed: run abandoned');
      } else if (!endsRun(error)) {
        // An infrastructure error: BullMQ retries with backoff. The run's attempt (of the step, or
        // of the undo it had open) ends as `error`, so that the retry counts no lost node for it.
        log.warn({ event: 'step-error', err: error });
        await writer.recordError((order) => erroredRun(order, step, nodeId, now()));
      }
      throw error;
    }

    /** Runs the step from its start write; `current` is a record on which it plans to run. */
    async function runPlanned(current: VersionedOrder): Promise<StepResult> {
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
      const forward = { forward: true };
      current = await orCancel(() => write(current, startStep(current.order, step, nodeId, now()), forward));
      // The runs this start write abandoned (still `running` in `record`, read before it) died without
      // ending their spans: shown from the record.
      if (tracer) traceAbandonedRuns(tracer, job, record.attempts);
      observer.stepStarted?.(step, Math.max(0, (job.processedOn ?? Date.now()) - readyAt));
      log.info({ event: 'step-started' });
      // The handler alone also stops for a cancel; an undo that follows gets the run's own signal.
      // It aborts with the run's signal, linked by hand: AbortSignal.any cost ~3 % of a node's CPU
      // at STEP_MS=0 on Node 20 (docs/BENCHMARKS.md, the pipeline's profile).
      // Never unlinked: `stop` lives as long as the run, and a refused write after the handler
      // returned still aborts what the handler left running.
      const handler = new AbortController();
      follow(stop.signal, handler);
      const unwatch = cancelWatch?.watch(order_id, job.data.shard, () =>
        handler.abort(new CancelRequestedError(null)),
      );
      const signal = handler.signal;
      const ctx = contextOf('run', current.order, step, { nodeId, log, signal });
      const failure = await orCancel(() => invoke(() => handlers[step].run(ctx), signal)).finally(unwatch);
      if (failure !== null) return failAndRollBack(current, failure, startedAt);
      const done = completeStep(current.order, step, nodeId, now());
      // Folded into BullMQ's move of the job when its Worker offers it: one round trip, not two.
      const result: StepResult = { step, outcome: 'completed' };
      const move = moveOf(job);
      const fold = move && { move, result: JSON.stringify(result) };
      current = await orCancel(() => write(current, done, { ...forward, fold }), true);
      observer.stepFinished?.(step, 'completed', Date.now() - startedAt);
      log.info({ event: 'step-completed' });
      if (current.order.status === 'completed') {
        observer.orderFinished?.(current.order);
        const durationMs = Date.parse(current.order.completed_at!) - Date.parse(current.order.created_at);
        log.info({ event: 'order-completed', duration_ms: durationMs });
      }
      return result;
    }
  }
}
