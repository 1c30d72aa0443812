// The idempotency claim folded into the placement's MULTI (docs/adr/0022): a first placement makes
// no claim of its own, and a replay or a conflict, whose MULTI still added a chain for its own
// candidate id, leaves no job of that chain behind.
import { UnrecoverableError } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createPlacement } from '../../server/orders/place-order.js';
import { PlacementProducer } from '../../server/orders/placement-producer.js';
import { newOrder, STEPS } from '../../shared/domain/order.js';
import { createLogger } from '../../shared/logger.js';
import { orderFlow } from '../../shared/order-flow.js';
import { newOrderId, stepJobId } from '../../shared/order-id.js';
import type { OrderStore } from '../../shared/order-store.js';
import { expectProblem } from '../support/problems.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem();
const producer = new PlacementProducer({ connection: system.store });
afterAll(async () => {
  await producer.close();
  await system.close();
});

/** Every step job id in the store of this system: the part of a queue key after `steps-sNN:`. */
async function jobIds(): Promise<string[]> {
  const ids = new Set<string>();
  for (const key of await system.writtenKeys()) {
    const match = /:steps-s\d+:(\d+-[0-9A-Z]{26}\.[a-z-]+)(?::|$)/.exec(key);
    if (match) ids.add(match[1]!);
  }
  return [...ids].sort();
}
/** The keys of order data, but the fence a replay's confirmation writes (server/orders/replica-confirmation.ts). */
const orderKeys = async () => (await system.writtenKeys()).filter((key) => !key.endsWith(':replica-fence'));
const jobsOf = (orderId: string) => jobIds().then((ids) => ids.filter((id) => id.startsWith(`${orderId}.`)));

describe('when an order is placed the first time', () => {
  it('claims its key in the MULTI that writes it, not in a round trip of its own', async () => {
    const claims: string[] = [];
    const orders: OrderStore = {
      ...system.orders,
      claimIdempotency: (...args) => {
        claims.push('idempotency');
        return system.orders.claimIdempotency(...args);
      },
      claimClientOrderId: (...args) => {
        claims.push('client-order-id');
        return system.orders.claimClientOrderId(...args);
      },
    };
    const placement = createPlacement({
      config: system.config,
      keyspace: system.keyspace,
      orders,
      producer,
      logger: createLogger(system.config, { service: 'test' }),
    });
    const keyed = await placement.placeOrder({ user_id: 'fold-1' }, 'fold-key');
    const byClientId = await placement.placeOrder({ user_id: 'fold-1', client_order_id: 'FOLD-1' });
    const unkeyed = await placement.placeOrder({ user_id: 'fold-1' });
    expect(claims).toEqual([]);
    for (const placed of [keyed, byClientId, unkeyed]) {
      expect(placed.replayed).toBe(false);
      expect(await jobsOf(placed.order_id)).toHaveLength(4);
    }
    // The key was bound all the same: the same request again is a replay of that order.
    const replay = await placement.placeOrder({ user_id: 'fold-1' }, 'fold-key');
    expect(replay).toEqual({ ...keyed, replayed: true });
    expect(claims).toEqual([]);
  });
});

describe('when a key comes again', () => {
  it('replays the order and leaves no job of the replaying request behind', async () => {
    const body = { user_id: 'fold-replay' };
    const first = await system.place(body, { 'idempotency-key': 'fold-r' });
    const before = await orderKeys();
    const again = await system.place(body, { 'idempotency-key': 'fold-r' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.order_id).toBe(first.body.order_id);
    expect(await orderKeys()).toEqual(before);
  });

  it('answers a different body 409 and leaves no job of it behind', async () => {
    const first = await system.place({ user_id: 'fold-conflict' }, { 'idempotency-key': 'fold-c' });
    const before = await system.writtenKeys();
    const conflict = await system.place(
      { user_id: 'fold-conflict', region: 'us' },
      { 'idempotency-key': 'fold-c' },
    );
    await expectProblem(conflict, 409, /different request body/);
    expect(await system.writtenKeys()).toEqual(before);
    expect(await jobsOf(first.body.order_id)).toHaveLength(4);
  });

  it('leaves the one chain of the one order when many come at once, by key and by client order id', async () => {
    const before = new Set(await jobIds());
    const keyed = await Promise.all(
      Array.from({ length: 10 }, () => system.place({ user_id: 'fold-race' }, { 'idempotency-key': 'fr' })),
    );
    const byClientId = await Promise.all(
      Array.from({ length: 10 }, () => system.place({ user_id: 'fold-race', order_id: 'FR-1' })),
    );
    for (const results of [keyed, byClientId]) {
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(202));
      expect(results.filter((r) => r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    }
    const ids = [keyed[0]!.body.order_id, byClientId[0]!.body.order_id].sort();
    const added = (await jobIds()).filter((id) => !before.has(id));
    expect(added.map((id) => id.split('.')[0])).toEqual(ids.flatMap((id) => Array(4).fill(id)));
  });
});

describe("when a worker took an orphan chain's first step before it was removed", () => {
  it('is not removed while the step is held, and is once the step failed for want of a record', async () => {
    // Its own namespace: the hand worker must take this chain's leaf, not another order's.
    const lone = createTestSystem();
    const loneProducer = new PlacementProducer({ connection: lone.store });
    try {
      const shard = 0;
      const keys = lone.keyspace.shard(shard);
      const order = newOrder(newOrderId(shard), shard, { user_id: 'orphan' }, new Date());
      await loneProducer.addWith(orderFlow(order, keys), () => {});
      const root = stepJobId(order.order_id, STEPS[STEPS.length - 1]!);
      const worker = lone.handWorker(shard);
      const leaf = await worker.getNextJob('orphan-token');
      expect(leaf?.id).toBe(stepJobId(order.order_id, STEPS[0]!));
      expect(await loneProducer.removeChain(keys, root)).toBe(false);
      expect(await lone.store.exists(keys.queueKey(root))).toBe(1);
      // What the step processor does with a job whose order has no record.
      await leaf!.moveToFailed(
        new UnrecoverableError(`order ${order.order_id} has no record`),
        'orphan-token',
      );
      expect(await loneProducer.removeChain(keys, root)).toBe(true);
      const jobKeys = STEPS.map((step) => keys.queueKey(stepJobId(order.order_id, step)));
      expect(await lone.store.exists(...jobKeys)).toBe(0);
      for (const state of ['wait', 'failed', 'waiting-children'] as const) {
        expect(await lone.ops.queues[shard]!.getJobs([state]), state).toEqual([]);
      }
    } finally {
      await loneProducer.close();
      await lone.close();
    }
  });
});
