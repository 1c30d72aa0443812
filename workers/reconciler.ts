// Finishes orders that no job will ever move again: the chain stopped (a step gave up after its
// attempts, a rollback stalled past BullMQ's limit, jobs removed) while the record is not terminal.
import { randomUUID } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import { isTerminal, type OrderRecord, STEPS, type StepName } from '../shared/domain/order.js';
import { failStep } from '../shared/domain/transitions.js';
import type { Keyspace } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { STEP_JOB_OPTIONS } from '../shared/order-flow.js';
import { parseStepJobId } from '../shared/order-id.js';
import type { VersionedOrder } from '../shared/order-store.js';
import type { Store } from '../shared/store.js';
import { createReconcileStore, type Inspection, type StepJob } from './reconcile-store.js';
import { createRecordSweep } from './record-sweep.js';
import { cancelAndRollBack } from './step-cancel.js';
import type { StepObserver } from './step-processor.js';
import { type RollbackRun, resumeRollback, rollBack } from './step-rollback.js';
import type { StepHandlers } from './steps/contract.js';

export interface ReconcilerDeps {
  store: Store;
  keyspace: Keyspace;
  nodeId: string;
  /** Whose `compensate` undoes each step: the step processor's. */
  handlers: StepHandlers;
  /** The record TTL (ORDER_TTL_S) that every write renews. */
  orderTtlS: number;
  logger: Logger;
  observer?: StepObserver;
  /** RECONCILE_INTERVAL_MS: pause between two passes (default 10 s). */
  intervalMs?: number;
  /** How long a reconciler's claim on an order outlives its last write; must outlast one compensation. */
  claimMs?: number;
  /** Lost runs of a rollback past which it is given up rather than resumed, as the processor does. */
  maxRollbackCrashes: number;
  /** Failed jobs read per shard and pass (default 1000). */
  batch?: number;
  /** Order records SCANned per store master and pass, looking for chains lost entirely (default 1000). */
  sweepCount?: number;
  /** A record is swept only once this old (default 60 s), so a just-placed order is never looked at. */
  sweepAgeMs?: number;
  now?: () => Date;
}

/** What one attempt to finish an order found or did. */
export type ReconcileOutcome = 'finished' | 'terminal' | 'missing' | 'live' | 'claimed' | 'conflict';

/** Failed jobs are read again this far back: their scores come from the clocks of many nodes. */
const CLOCK_SKEW_MS = 5000;

class Refused extends Error {
  constructor(readonly outcome: ReconcileOutcome) {
    super(`reconcile write refused: ${outcome}`);
  }
}

/** Why the order stops, from the current step's job: the failure BullMQ recorded, or its loss. */
export function stuckReason(step: StepName, job: StepJob): string {
  if (job.state !== 'failed')
    return `chain lost: the ${step} job is ${job.state === 'missing' ? 'gone' : job.state}`;
  if (job.stalledCount > 0 && /stalled/.test(job.failedReason)) {
    return `${step} stalled ${job.stalledCount} times: ${job.failedReason}`;
  }
  if (job.attemptsMade >= (STEP_JOB_OPTIONS.attempts ?? 1)) {
    return `${step} gave up after ${job.attemptsMade} infrastructure errors: ${job.failedReason}`;
  }
  return `${step} job failed: ${job.failedReason}`;
}

/** A node's reconciler; nothing runs until `start()`. */
export function createReconciler(deps: ReconcilerDeps) {
  const { keyspace, nodeId, observer = {} } = deps;
  const intervalMs = deps.intervalMs ?? 10_000;
  const claimMs = deps.claimMs ?? 10_000;
  const batch = deps.batch ?? 1000;
  const now = deps.now ?? (() => new Date());
  const log = deps.logger.child({ node_id: nodeId, component: 'reconciler' });
  const records = createReconcileStore(deps.store, keyspace, deps.orderTtlS);
  const sweep = createRecordSweep(deps.store, keyspace);
  // One claim token for the life of this reconciler: after a write whose reply was lost it goes on
  // under its own claim at the next pass; another node's reconciler is refused until it ends.
  const token = `${nodeId}/${randomUUID()}`;
  // Per shard: failed jobs up to `seenUpTo` were read; `resumeAt` continues a pass cut by `batch`.
  const passes = keyspace.all().map(() => ({ seenUpTo: 0, resumeAt: null as number | null }));
  // Orders found finished in the re-read window, so each is inspected once, not once per pass.
  const settled = new Map<string, { shard: number; at: number }>();
  // Orders found stopped but not finishable yet (a job still live, another node's claim): every pass.
  const again = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let started = false;
  let halted = false;

  /** Fails the current step with the reason its job gives, as the processor fails a step. */
  async function failCurrentStep(run: RollbackRun, current: VersionedOrder, inspection: Inspection) {
    const reason = stuckReason(run.step, inspection.jobs[run.step]);
    const failed = await run.write(current, failStep(current.order, run.step, nodeId, now(), reason));
    const startedAt = current.order.steps.find((s) => s.name === run.step)?.started_at;
    observer.stepFinished?.(run.step, 'failed', startedAt ? now().getTime() - Date.parse(startedAt) : 0);
    run.log.info({ event: 'step-failed', reason });
    return failed;
  }

  /** Finishes `orderId` if it is stopped: failed with a reason, completed steps compensated. */
  async function reconcile(orderId: string): Promise<ReconcileOutcome> {
    const inspection = await records.inspect(orderId);
    const { record, jobs } = inspection;
    if (!record) return 'missing';
    if (isTerminal(record.order.status)) return 'terminal';
    if (STEPS.some((step) => jobs[step].state === 'live')) return 'live';
    const write: RollbackRun['write'] = async (current, next: OrderRecord) => {
      const outcome = await records.write(token, claimMs, current, next, isTerminal(next.status));
      if (outcome !== 'written') throw new Refused(outcome);
      return { order: next, version: current.version + 1 };
    };
    const step = (record.order.failure?.step ?? record.order.current_step) as StepName;
    const orderLog = log.child({ order_id: orderId, shard: record.order.shard, step });
    const run: RollbackRun = {
      ...{ step, nodeId, write, log: orderLog, observer, now, handlers: deps.handlers },
      // Never aborted: a refusal ends the rollback at a write, never during an undo; an undo longer
      // than the claim (claimMs) could meet another node's, which is why the claim must outlast one.
      ...{ signal: new AbortController().signal, maxRollbackCrashes: deps.maxRollbackCrashes },
    };
    try {
      // The step processor's own rollback: the same transitions, handlers, logs and metrics.
      if (record.order.status === 'rolling_back') await resumeRollback(run, record);
      // A cancel request no run took in (its chain stopped first): the order is cancelled, not failed.
      if (record.cancelRequest) await cancelAndRollBack(run, record, record.cancelRequest, { step, nodeId });
      await rollBack(run, await failCurrentStep(run, record, inspection));
    } catch (error) {
      if (error instanceof UnrecoverableError) return 'finished'; // how a rollback ends
      if (!(error instanceof Refused)) throw error;
      orderLog.info({ event: 'reconcile-refused', outcome: error.outcome });
      return error.outcome;
    }
    return 'finished';
  }

  /** Reconciles each order once; unfinishable ones are kept for the next pass. */
  async function settle(orderIds: Map<string, { shard: number; at: number }>): Promise<number> {
    let finished = 0;
    for (const [orderId, seen] of orderIds) {
      if (halted) break; // stop() was called: the rest waits for another node or the next start
      const outcome = await reconcile(orderId).catch((error: unknown) => {
        log.error({ event: 'reconcile-error', order_id: orderId, err: error });
        return 'conflict' as const;
      });
      if (outcome === 'finished') finished++;
      if (outcome === 'finished' || outcome === 'terminal' || outcome === 'missing') {
        again.delete(orderId);
        if (seen.at >= 0) settled.set(orderId, seen);
      } else again.add(orderId);
    }
    return finished;
  }

  /** The orders of `shard` with a job failed since the last pass (and its skew window). */
  async function failedOrders(shard: number) {
    const pass = passes[shard]!;
    const min = pass.resumeAt ?? Math.max(0, pass.seenUpTo - CLOCK_SKEW_MS);
    const failed = await records.failedSince(shard, min, batch);
    const last = failed.at(-1)?.at ?? min;
    // A full batch leaves more to read: resume at its last score, past it if the batch did not move.
    pass.resumeAt = failed.length === batch ? (last > min ? last : min + 1) : null;
    pass.seenUpTo = Math.max(pass.seenUpTo, last);
    for (const [orderId, seen] of settled) {
      if (seen.shard === shard && seen.at < pass.seenUpTo - CLOCK_SKEW_MS) settled.delete(orderId);
    }
    const orders = new Map<string, { shard: number; at: number }>();
    for (const { jobId, at } of failed) {
      const orderId = parseStepJobId(jobId)?.order_id;
      if (orderId && !settled.has(orderId)) orders.set(orderId, { shard, at });
    }
    return orders;
  }

  /** One pass: the failed sets of every shard, the orders kept from the last pass, one sweep step. */
  async function tick(): Promise<number> {
    const fromFailed = await Promise.all(
      keyspace.all().map(async ({ shard }) => settle(await failedOrders(shard))),
    );
    const cutoff = new Date(now().getTime() - (deps.sweepAgeMs ?? 60_000));
    const swept = await sweep.step(deps.sweepCount ?? 1000, cutoff);
    const retry = new Map([...again, ...swept].map((id) => [id, { shard: -1, at: -1 }]));
    return fromFailed.reduce((a, b) => a + b, 0) + (await settle(retry));
  }

  function schedule(): void {
    timer = setTimeout(() => {
      running = tick()
        .catch((error: unknown) => log.error({ event: 'reconcile-pass-failed', err: error }))
        .finally(() => {
          running = undefined;
          if (started) schedule();
        });
    }, intervalMs);
  }

  return {
    reconcile,
    /** One pass now; resolves to the number of orders it finished. */
    tick,
    /** Passes every `intervalMs`, each after the previous one ended. */
    start(): void {
      if (started) return;
      started = true;
      halted = false;
      if (!running) schedule(); // else the pass under way schedules the next when it ends
    },
    /** No further pass; resolves once the one under way, if any, ended (its current order finished). */
    async stop(): Promise<void> {
      halted = true;
      started = false;
      clearTimeout(timer);
      await running;
    },
  };
}

export type Reconciler = ReturnType<typeof createReconciler>;
