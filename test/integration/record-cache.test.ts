// The worker's copy of the records it wrote: the next step of an order starts from it without a read,
// and a stale copy (the record moved on elsewhere) costs a read, never a wrong decision or a lost run.
import type { Job, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import type { StepJobData } from '../../shared/order-flow.js';
import { stepJobId } from '../../shared/order-id.js';
import type { OrderStore } from '../../shared/order-store.js';
import { createStepProcessor } from '../../workers/step-processor.js';
import { scriptedHandlers } from '../support/step-handlers.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem();
afterAll(() => system.close());

/** The order store with its reads counted. */
function countingReads(): { orders: OrderStore; reads: () => number } {
  let reads = 0;
  const orders: OrderStore = {
    ...system.orders,
    read: (orderId) => {
      reads++;
      return system.orders.read(orderId);
    },
  };
  return { orders, reads: () => reads };
}

function processorOn(nodeId: string, orders: OrderStore) {
  return createStepProcessor({
    orders,
    nodeId,
    handlers: scriptedHandlers(),
    maxStepCrashes: 2,
    logger: createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }),
  });
}

/** Places an order; returns a hand-driven Worker on its shard's queue. */
async function placeWithWorker(userId: string) {
  const placed = await system.place({ user_id: userId });
  return { orderId: placed.body.order_id as string, worker: system.handWorker(placed.body.shard) };
}

/** Takes the next job of the queue under `token`; it must be `step` of `orderId`. */
async function take(worker: Worker<StepJobData>, token: string, orderId: string, step: string) {
  const job = (await worker.getNextJob(token)) as Job<StepJobData>;
  expect(job.id).toBe(stepJobId(orderId, step as StepJobData['step']));
  return job;
}

describe("a node's copy of the records it wrote", () => {
  it('starts the next step of an order from its own last write, without reading the record', async () => {
    const { orderId, worker } = await placeWithWorker('cache-user-1');
    const { orders, reads } = countingReads();
    const processStep = processorOn('node-a', orders);

    const first = await take(worker, 'token-1', orderId, 'scheduling');
    await processStep(first, 'token-1');
    await first.moveToCompleted({ step: 'scheduling', outcome: 'completed' }, 'token-1', false);
    const second = await take(worker, 'token-2', orderId, 'pre-processing');
    await processStep(second, 'token-2');

    expect(reads()).toBe(1);
    const { order, version } = (await system.orders.read(orderId))!;
    expect(order.steps.slice(0, 2).map((s) => [s.status, s.attempts.length])).toEqual([
      ['completed', 1],
      ['completed', 1],
    ]);
    expect(version).toBe(5); // created, then a start and a completion write per step
  });

  it('reads the record again when its copy is stale, and finds the step already committed elsewhere', async () => {
    const { orderId, worker } = await placeWithWorker('cache-user-2');
    const { orders, reads } = countingReads();
    const nodeA = processorOn('node-a', orders);
    const nodeB = processorOn('node-b', system.orders);

    const first = await take(worker, 'token-1', orderId, 'scheduling');
    await nodeA(first, 'token-1');
    await first.moveToCompleted({ step: 'scheduling', outcome: 'completed' }, 'token-1', false);
    const second = await take(worker, 'token-2', orderId, 'pre-processing');
    // Another run of the same step (say, after node-a looked dead) committed it first.
    await nodeB(second, 'token-2');

    // node-a's copy still shows pre-processing pending: its start write meets a newer version.
    await expect(nodeA(second, 'token-2')).resolves.toEqual({ step: 'pre-processing', outcome: 'completed' });
    expect(reads()).toBe(2);
    const { order } = (await system.orders.read(orderId))!;
    expect(order.steps[1]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([['node-b', 'completed']]);
  });
});
