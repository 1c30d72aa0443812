// Stuck orders on the real cluster: a chain that stopped while its record was not terminal is ended
// by the reconciler (failed, completed steps compensated), never while a job of the order is live.
import { randomUUID } from 'node:crypto';
import { type Job, Queue } from 'bullmq';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { OrderRecord, StepName } from '../../shared/domain/order.js';
import { createLogger } from '../../shared/logger.js';
import type { StepJobData } from '../../shared/order-flow.js';
import { stepJobId } from '../../shared/order-id.js';
import { shardOf } from '../../shared/sharding.js';
import { createStore } from '../../shared/store.js';
import { createNodeTelemetry } from '../../workers/node-metrics.js';
import { createReconciler, type ReconcileOutcome, type ReconcilerDeps } from '../../workers/reconciler.js';
import { createWorkerRuntime } from '../../workers/runtime.js';
import { createStepProcessor } from '../../workers/step-processor.js';
import { failingAt, plannedReason, scriptedHandlers, timedHandlers } from '../support/step-handlers.js';
import { createTestSystem, waitFor } from '../support/system.js';

const COMPENSATION_MS = 10;
const INTERVAL_MS = 500;
/** The stated bound: a pass every interval, then one compensation per completed step, plus slack. */
const BOUND_MS = INTERVAL_MS + 3 * COMPENSATION_MS + 1000;

const system = createTestSystem({ COMPENSATION_MS: String(COMPENSATION_MS) });
const silent = createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false });
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await system.close();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const read = async (orderId: string) => (await system.orders.read(orderId))!;

/** A user whose orders land in `shard`: each test drives a queue of its own by hand. */
function userOn(shard: number, name: string): string {
  for (let i = 0; ; i++) if (shardOf(`u${i}-${name}`, system.config.SHARDS) === shard) return `u${i}-${name}`;
}

/** A reconciler as a node builds it, on a store connection of its own. */
function reconciler(nodeId: string, deps: Partial<ReconcilerDeps> = {}) {
  const store = createStore(system.config);
  const made = createReconciler({
    store,
    keyspace: system.keyspace,
    nodeId,
    handlers: timedHandlers(0, COMPENSATION_MS),
    orderTtlS: system.config.ORDER_TTL_S,
    maxRollbackCrashes: 2,
    logger: silent,
    ...deps,
  });
  cleanups.push(async () => {
    await made.stop();
    await store.quit();
  });
  return made;
}

/**
 * Runs the steps of one shard's queue by hand with the real step processor, as a node would; every
 * order of it fails at `failAt`, if given.
 */
function handDriver(shard: number, failAt?: StepName) {
  const worker = system.handWorker(shard);
  const keys = system.keyspace.shard(shard);
  const queue = new Queue<StepJobData>(keys.queueName, {
    connection: system.store,
    prefix: keys.queuePrefix,
  });
  cleanups.push(() => queue.close());
  // Which handler calls meet a store that is down: the step's or the undos'.
  let storeDown: 'step' | 'undo' | null = null;
  const down = (during: 'step' | 'undo') => {
    if (storeDown === during) throw new Error('CLUSTERDOWN The cluster is down');
  };
  const processor = createStepProcessor({
    orders: system.orders,
    nodeId: 'hand-node',
    handlers: failingAt(
      () => failAt,
      scriptedHandlers({ run: () => down('step'), compensate: () => down('undo') }),
    ),
    maxStepCrashes: 2,
    logger: silent,
    recentRecords: 0,
  });

  /** Takes job `jobId` into active under a new token; a job in backoff is promoted, not waited for. */
  async function take(jobId: string) {
    const queued = await queue.getJob(jobId);
    if ((await queued?.getState()) === 'delayed') await queued!.promote();
    const token = randomUUID();
    const job = (await worker.getNextJob(token, { block: false })) as Job<StepJobData> | undefined;
    expect(job?.id).toBe(jobId);
    return { job: job!, token };
  }

  const driver = {
    queue,
    take,
    processor,
    async complete(orderId: string, step: StepName) {
      const { job, token } = await take(stepJobId(orderId, step));
      await job.moveToCompleted(await processor(job, token), token, false);
    },
    /** Runs a taken job with the store failing under it; BullMQ retries it or, out of attempts, fails it. */
    async runErroring(job: Job<StepJobData>, token: string, during: 'step' | 'undo' = 'step') {
      storeDown = during;
      try {
        const error = await processor(job, token).then(
          () => new Error('the step should have errored'),
          (e) => e,
        );
        await job.moveToFailed(error, token, false);
      } finally {
        storeDown = null;
      }
    },
    /** Fails a parent whose child failed, as any worker does when it fetches it (BullMQ's deferred failure). */
    async failParent() {
      expect(await worker.getNextJob(randomUUID(), { block: false })).toBeUndefined();
    },
    /** Runs `step` with the store failing under it (or its undos) until BullMQ gives up on it. */
    async exhaust(orderId: string, step: StepName, during: 'step' | 'undo' = 'step') {
      for (;;) {
        const { job, token } = await take(stepJobId(orderId, step));
        await driver.runErroring(job, token, during);
        if (await job.isFailed()) return;
      }
    },
  };
  return driver;
}

/**
 * An order whose chain stopped for good: scheduling and pre-processing completed, processing gave
 * up after its attempts on infrastructure errors; with `failParent`, post-processing failed too.
 */
async function stuckOrder(hand: ReturnType<typeof handDriver>, user: string, failParent = true) {
  const placed = await system.place({ user_id: user });
  const orderId: string = placed.body.order_id;
  await hand.complete(orderId, 'scheduling');
  await hand.complete(orderId, 'pre-processing');
  await hand.exhaust(orderId, 'processing');
  if (failParent) await hand.failParent();
  const { order } = await read(orderId);
  expect(order).toMatchObject({ status: 'in_progress', current_step: 'processing' });
  return orderId;
}

function expectRolledBackOnce(order: OrderRecord, by: string) {
  expect(order.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'failed', 'pending']);
  expect(order.rollback.map((r) => [r.step, r.node_id, r.attempts?.length])).toEqual([
    ['pre-processing', by, 1],
    ['scheduling', by, 1],
  ]);
  expect(order.rollback.every((r) => r.completed_at !== null)).toBe(true);
}

describe('when a step gives up after its attempts on infrastructure errors', () => {
  it('ends the order failed with that reason, undone in reverse, within the bound, no longer in flight', async () => {
    const hand = handDriver(1);
    const orderId = await stuckOrder(hand, userOn(1, 'gave-up'), false);
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const config = {
      ...system.config,
      NODE_ID: 'node-r',
      HEARTBEAT_MS: 200,
      RECONCILE_INTERVAL_MS: INTERVAL_MS,
    };
    const telemetry = createNodeTelemetry({
      ...{ store: system.store, namespace: config.KEY_NAMESPACE, nodeId: config.NODE_ID, heartbeatMs: 200 },
      logger: silent,
    });
    const node = createWorkerRuntime(config, { logger, telemetry });
    await node.start(); // it fails post-processing (the deferred failure), the chain's last job
    try {
      await expectEndedWithinBound(orderId, hand, lines);
    } finally {
      await node.close(); // before the next tests, whose queues it would otherwise serve
    }
  });
});

async function expectEndedWithinBound(
  orderId: string,
  hand: ReturnType<typeof handDriver>,
  lines: Record<string, unknown>[],
) {
  const order = await system.waitForTerminal(orderId, 3 * BOUND_MS);
  expect(order.status).toBe('failed');
  expect(order.failure).toEqual({
    step: 'processing',
    reason: 'processing gave up after 5 infrastructure errors: CLUSTERDOWN The cluster is down',
  });
  expectRolledBackOnce(order, 'node-r');
  expect(order.steps[2]!.attempts.map((a) => a.outcome)).toEqual(Array(5).fill('error'));
  const lastJobEnd = (await hand.queue.getJob(stepJobId(orderId, 'post-processing')))!.finishedOn!;
  expect(Date.parse(order.completed_at!) - lastJobEnd).toBeLessThanOrEqual(BOUND_MS);

  const events = lines.filter((l) => l.order_id === orderId);
  const compensated = events.filter((l) => l.event === 'compensation-started');
  expect(compensated.map((l) => l.compensated_step)).toEqual(['pre-processing', 'scheduling']);
  expect(events.filter((l) => l.event === 'order-failed').map((l) => l.reason)).toEqual([
    order.failure!.reason,
  ]);
  const stats = await waitFor(
    async () => ((await system.get('/stats')).body.orders.failed === 1 ? system.get('/stats') : undefined),
    5000,
    'the node to publish the failed order',
  );
  expect(stats.body.orders).toEqual({ placed: 1, completed: 0, failed: 1, cancelled: 0, in_flight: 0 });
}

describe('when a job of the order is live', () => {
  it('never writes while a retried step waits or runs, and ends the order once its job failed again', async () => {
    const hand = handDriver(2);
    const orderId = await stuckOrder(hand, userOn(2, 'retried'));
    const periodic = reconciler('reconciler-b', { intervalMs: 50 });
    try {
      // An operator retries the step that gave up: its job waits again, so the order is not stuck.
      await (await hand.queue.getJob(stepJobId(orderId, 'processing')))!.retry('failed');
      const before = await read(orderId);
      periodic.start();
      expect(await periodic.reconcile(orderId)).toBe('live');
      await pause(300); // several passes
      expect(await read(orderId)).toEqual(before);

      const { job, token } = await hand.take(stepJobId(orderId, 'processing')); // active, under its lock
      expect(await periodic.reconcile(orderId)).toBe('live');
      await pause(200);
      expect(await read(orderId)).toEqual(before);

      // The retried run errors again; its job is failed, and nothing is live any more.
      await hand.runErroring(job, token);
      const order = await system.waitForTerminal(orderId, 5000);
      expect(order.failure?.reason).toBe(
        'processing gave up after 6 infrastructure errors: CLUSTERDOWN The cluster is down',
      );
      expectRolledBackOnce(order, 'reconciler-b');
    } finally {
      await periodic.stop(); // its passes would otherwise finish the next tests' orders
    }
  });

  it('stops its rollback at the first write after a job of the order became live', async () => {
    const hand = handDriver(3);
    const orderId = await stuckOrder(hand, userOn(3, 'raced'));
    let compensating: Awaited<ReturnType<typeof read>> | undefined;
    const racing = reconciler('reconciler-race', {
      handlers: scriptedHandlers({
        async compensate() {
          compensating = await read(orderId);
          await (await hand.queue.getJob(stepJobId(orderId, 'processing')))!.retry('failed');
        },
      }),
    });
    expect(await racing.reconcile(orderId)).toBe('live');
    expect(compensating!.order.rollback.map((r) => [r.step, r.completed_at])).toEqual([
      ['pre-processing', null],
    ]);
    expect(await read(orderId)).toEqual(compensating); // the undo's end was refused: the job is live

    // The retried run owns the order now and resumes the rollback as for a dead run.
    const { job, token } = await hand.take(stepJobId(orderId, 'processing'));
    const ended = await hand.processor(job, token).catch((e: Error) => e);
    await job.moveToFailed(ended as Error, token, false);
    const { order } = await read(orderId);
    expect(order.status).toBe('failed');
    expect(order.rollback.map((r) => [r.step, r.node_id])).toEqual([
      ['pre-processing', 'hand-node'],
      ['scheduling', 'hand-node'],
    ]);
  });
});

describe('when a rollback gives up after its attempts on infrastructure errors', () => {
  it('resumes the open undo and ends the order failed with the reason the step failed for', async () => {
    const hand = handDriver(6, 'processing');
    const placed = await system.place({ user_id: userOn(6, 'undo-down') });
    const orderId: string = placed.body.order_id;
    await hand.complete(orderId, 'scheduling');
    await hand.complete(orderId, 'pre-processing');
    await hand.exhaust(orderId, 'processing', 'undo'); // the step fails; every run of its undo errors
    await hand.failParent();
    const stuck = (await read(orderId)).order;
    expect(stuck).toMatchObject({ status: 'rolling_back', current_step: 'processing' });
    expect(stuck.rollback.map((r) => [r.step, r.completed_at])).toEqual([['pre-processing', null]]);

    expect(await reconciler('reconciler-undo').reconcile(orderId)).toBe('finished');
    const { order } = await read(orderId);
    expect(order.status).toBe('failed');
    expect(order.failure).toEqual({ step: 'processing', reason: plannedReason('processing') });
    expect(order.rollback.map((r) => [r.step, r.node_id])).toEqual([
      ['pre-processing', 'reconciler-undo'],
      ['scheduling', 'reconciler-undo'],
    ]);
    // The undo of pre-processing: five runs ended by errors, then the reconciler's.
    const undo = order.rollback[0]!.attempts!.map((a) => [a.node_id, a.outcome]);
    expect(undo).toEqual([...Array(5).fill(['hand-node', 'error']), ['reconciler-undo', 'completed']]);
  });
});

describe('when two nodes find the same stuck order', () => {
  it('compensates each step exactly once: one reconciler claims the order, the other is refused', async () => {
    const hand = handDriver(4);
    const orderId = await stuckOrder(hand, userOn(4, 'contended'));
    const compensations: string[] = [];
    const finished: string[] = [];
    const during: ReconcileOutcome[] = [];
    const nodes = ['reconciler-1', 'reconciler-2'].map((nodeId, i) =>
      reconciler(nodeId, {
        observer: { orderFinished: () => void finished.push(nodeId) },
        handlers: scriptedHandlers({
          async compensate() {
            compensations.push(nodeId);
            // While this one undoes its first step, the other node's pass comes by.
            if (compensations.length === 1) during.push(await nodes[1 - i]!.reconcile(orderId));
          },
        }),
      }),
    );
    const outcomes = await Promise.all(nodes.map((n) => n.reconcile(orderId)));
    expect(outcomes.filter((o) => o === 'finished')).toHaveLength(1);
    expect(during).toEqual(['claimed']);
    await Promise.all(nodes.map((n) => n.tick()));

    const { order } = await read(orderId);
    expect(order.status).toBe('failed');
    const winner = finished[0]!;
    expect(finished).toEqual([winner]);
    expect(compensations).toEqual([winner, winner]);
    expectRolledBackOnce(order, winner);
  });
});

describe('when the whole chain of an order is gone', () => {
  it('finds the record in its sweep and ends the order failed as chain lost', async () => {
    const hand = handDriver(5);
    const placed = await system.place({ user_id: userOn(5, 'lost') });
    const orderId: string = placed.body.order_id;
    await hand.complete(orderId, 'scheduling');
    await (await hand.queue.getJob(stepJobId(orderId, 'post-processing')))!.remove(); // with its children
    const sweeper = reconciler('reconciler-sweep', { sweepAgeMs: 0, sweepCount: 10_000 });

    await waitFor(async () => ((await sweeper.tick()) > 0 ? true : undefined), 10_000, 'the sweep');
    const { order } = await read(orderId);
    expect(order.status).toBe('failed');
    expect(order.failure).toEqual({
      step: 'pre-processing',
      reason: 'chain lost: the pre-processing job is gone',
    });
    expect(order.rollback.map((r) => r.step)).toEqual(['scheduling']);
  });
});

describe('when an order was asked to cancel and its chain stopped before a run took the request in', () => {
  it('cancels it, undoes its completed steps newest first and ends it cancelled, not failed', async () => {
    const hand = handDriver(6);
    const orderId = await stuckOrder(hand, userOn(6, 'cancel-stuck'));
    const asked = await system.app.request(`/orders/${orderId}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'stuck anyway', requested_by: 'support' }),
    });
    expect(asked.status).toBe(202);
    // Until a run takes it in, the lookup shows the stored request as a cancellation not yet applied.
    const pending = (await system.get(`/orders/${orderId}`)).body;
    expect(pending).toMatchObject({
      status: 'in_progress',
      cancellation: { reason: 'stuck anyway', step: null, stopped_at: null },
    });
    expect(await reconciler('node-c').reconcile(orderId)).toBe('finished');
    const { order } = await read(orderId);
    expect(order).toMatchObject({ status: 'cancelled', current_step: 'cancelled', failure: null });
    expect(order.cancellation).toMatchObject({
      reason: 'stuck anyway',
      step: 'processing',
      node_id: 'node-c',
    });
    expect(order.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'cancelled', 'pending']);
    expect(order.rollback.map((r) => [r.step, r.node_id])).toEqual([
      ['pre-processing', 'node-c'],
      ['scheduling', 'node-c'],
    ]);
  });
});
