// Fencing on the real cluster: a run whose BullMQ lock was taken away cannot write the order record.
import { type Job, UnrecoverableError } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import type { StepJobData } from '../../shared/order-flow.js';
import { stepJobId } from '../../shared/order-id.js';
import { createStepProcessor, LockLostError } from '../../workers/step-processor.js';
import { failingAt, plannedReason, scriptedHandlers } from '../support/step-handlers.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem();
afterAll(() => system.close());

/** Places an order and takes its first step by hand, as a worker node would: active, locked by `token`. */
async function takeFirstStep(userId: string, token: string) {
  const placed = await system.place({ user_id: userId });
  const keys = system.keyspace.shard(placed.body.shard);
  const worker = system.handWorker(placed.body.shard);
  const job = (await worker.getNextJob(token)) as Job<StepJobData>;
  expect(job.id).toBe(stepJobId(placed.body.order_id, 'scheduling'));
  return { orderId: placed.body.order_id as string, job, lockKey: keys.jobLock(job.id!) };
}

function processorWith(duringStep: () => Promise<void>) {
  return createStepProcessor({
    orders: system.orders,
    nodeId: 'stale-node',
    handlers: scriptedHandlers({ run: duringStep }),
    maxStepCrashes: 2,
    logger: createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }),
  });
}

describe('when the lock is taken by another run during the step', () => {
  it('refuses the stale run its completion write and leaves the record as the last holder left it', async () => {
    const { orderId, job, lockKey } = await takeFirstStep('fenced-user', 'token-a');
    const process = processorWith(async () => {
      await system.store.set(lockKey, 'token-b'); // the lock expired and another node's run took it
    });
    await expect(process(job, 'token-a')).rejects.toBeInstanceOf(LockLostError);

    const { order } = (await system.orders.read(orderId))!;
    expect(order.steps[0]).toMatchObject({ status: 'running', completed_at: null, node_id: 'stale-node' });
    expect(order.steps[0]!.attempts.map((a) => a.outcome)).toEqual(['running']);
    expect(order.status).toBe('in_progress');
  });
});

describe('when the lock is gone before the run writes anything', () => {
  it('writes nothing at all', async () => {
    const { orderId, job, lockKey } = await takeFirstStep('fenced-user-2', 'token-a');
    await system.store.del(lockKey);
    const before = await system.orders.read(orderId);
    await expect(processorWith(async () => {})(job, 'token-a')).rejects.toBeInstanceOf(LockLostError);
    expect(await system.orders.read(orderId)).toEqual(before);
  });
});

describe('when the record changed since the run read it', () => {
  it('refuses a write over a stale version even with the right token', async () => {
    const { orderId, job } = await takeFirstStep('fenced-user-3', 'token-a');
    const read = (await system.orders.read(orderId))!;
    const first = await system.orders.fencedWrite(job.id!, 'token-a', read, {
      ...read.order,
      region: 'first',
    });
    expect(first.outcome).toBe('written');
    const second = await system.orders.fencedWrite(job.id!, 'token-a', read, {
      ...read.order,
      region: 'second',
    });
    expect(second.outcome).toBe('conflict');
    expect((await system.orders.read(orderId))!.order.region).toBe('first');
  });
});

describe('when a landed write is sent again because its reply was lost (issue 12)', () => {
  it('answers the resend as its own write, already written, and bumps the version once', async () => {
    const { orderId, job } = await takeFirstStep('resent-user', 'token-a');
    const read = (await system.orders.read(orderId))!;
    const next = { ...read.order, region: 'resent' };
    const first = await system.orders.fencedWrite(job.id!, 'token-a', read, next);
    const resend = await system.orders.fencedWrite(job.id!, 'token-a', read, next);
    const written = { order: next, version: read.version + 1 };
    expect(first).toEqual({ outcome: 'written', written });
    expect(resend).toEqual({ outcome: 'already-written', written });
    expect(await system.orders.read(orderId)).toEqual(written);
  });

  it('still refuses any other write over the version it replaced', async () => {
    const { orderId, job, lockKey } = await takeFirstStep('resent-user-2', 'token-a');
    const read = (await system.orders.read(orderId))!;
    await system.orders.fencedWrite(job.id!, 'token-a', read, { ...read.order, region: 'first' });
    // The same run with another document, then another run holding the lock now.
    const other = { ...read.order, region: 'other' };
    expect((await system.orders.fencedWrite(job.id!, 'token-a', read, other)).outcome).toBe('conflict');
    await system.store.set(lockKey, 'token-b');
    expect((await system.orders.fencedWrite(job.id!, 'token-b', read, other)).outcome).toBe('conflict');
    expect(await system.orders.read(orderId)).toEqual({
      order: { ...read.order, region: 'first' },
      version: read.version + 1,
    });
  });

  it('refuses the resend of a run that lost its lock meanwhile, writing nothing more', async () => {
    const { orderId, job, lockKey } = await takeFirstStep('resent-user-3', 'token-a');
    const read = (await system.orders.read(orderId))!;
    const next = { ...read.order, region: 'landed' };
    const { written } = await system.orders.fencedWrite(job.id!, 'token-a', read, next);
    await system.store.set(lockKey, 'token-b'); // the lock expired while the connection was down
    expect((await system.orders.fencedWrite(job.id!, 'token-a', read, next)).outcome).toBe('lock-lost');
    const later = { ...next, region: 'never' };
    expect((await system.orders.fencedWrite(job.id!, 'token-a', written!, later)).outcome).toBe('lock-lost');
    expect(await system.orders.read(orderId)).toEqual(written);
  });
});

describe('when every run rolling back an order loses its lock in the middle of an undo (issue 12)', () => {
  it('gives the rollback up after MAX_STEP_CRASHES lost runs, the record saying what was left undone', async () => {
    const placed = await system.place({ user_id: 'doomed-rollback' });
    const orderId = placed.body.order_id as string;
    const keys = system.keyspace.shard(placed.body.shard);
    const worker = system.handWorker(placed.body.shard);
    let onUndo = async () => {};
    const process = createStepProcessor({
      orders: system.orders,
      nodeId: 'hand-node',
      handlers: failingAt(() => 'processing', scriptedHandlers({ compensate: () => onUndo() })),
      maxStepCrashes: 2,
      logger: createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }),
    });
    for (const step of ['scheduling', 'pre-processing'] as const) {
      const job = (await worker.getNextJob(`token-${step}`)) as Job<StepJobData>;
      expect(job.data.step).toBe(step);
      await job.moveToCompleted(await process(job, `token-${step}`), `token-${step}`, false);
    }
    const job = (await worker.getNextJob('run-1')) as Job<StepJobData>;
    const lockKey = keys.jobLock(job.id!);
    // Each run's node "dies" inside its undo: its lock expires and BullMQ hands the job to the next run.
    for (const [k, token] of ['run-1', 'run-2'].entries()) {
      onUndo = () => system.store.set(lockKey, `run-${k + 2}`).then(() => undefined);
      await expect(process(job, token)).rejects.toBeInstanceOf(LockLostError);
    }
    const reason = 'rollback lost its node 2 times (limit 2)';
    await expect(process(job, 'run-3')).rejects.toThrow(
      new UnrecoverableError(
        `${plannedReason('processing')}; ${reason}: pre-processing, scheduling not compensated`,
      ),
    );

    const { order } = (await system.orders.read(orderId))!;
    expect(order).toMatchObject({ status: 'failed', current_step: 'failed' });
    expect(order.rollback_failure).toEqual({
      step: 'pre-processing',
      reason,
      not_compensated: ['pre-processing', 'scheduling'],
    });
    expect(order.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'failed', 'pending']);
    expect(order.rollback.map((r) => [r.step, r.completed_at])).toEqual([['pre-processing', null]]);
    expect(order.rollback[0]!.attempts!.map((a) => a.outcome)).toEqual(['abandoned', 'abandoned']);
  });
});
