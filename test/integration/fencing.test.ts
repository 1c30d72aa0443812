// Fencing on the real cluster: a run whose BullMQ lock was taken away cannot write the order record.
import type { Job } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createFailurePolicy } from '../../shared/domain/failure-policy.js';
import { createLogger } from '../../shared/logger.js';
import type { StepJobData } from '../../shared/order-flow.js';
import { stepJobId } from '../../shared/order-id.js';
import { createStepProcessor, LockLostError } from '../../workers/step-processor.js';
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
    stepMs: 0,
    compensationMs: 0,
    maxStepCrashes: 2,
    failureOf: createFailurePolicy({ rate: 0 }),
    logger: createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }),
    sleep: duringStep,
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
