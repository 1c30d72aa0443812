// Placement under store faults (issue 12): a 202 always follows a replica's confirmation, replays
// included, and a 503 always names the Idempotency-Key whose retry returns that order, not a copy.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_ROOT, type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import { requestHash } from '../../server/orders/placement-key.js';
import { newOrder, STEPS } from '../../shared/domain/order.js';
import { newOrderId, stepJobId } from '../../shared/order-id.js';
import { keySlot, shardOf } from '../../shared/sharding.js';
import { resumeStore, signalAll } from '../support/cluster.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

let cluster: LocalCluster;
const root = path.join(DEFAULT_DATA_ROOT, `placement-faults-${process.pid}`);
/** Two API instances on one namespace: `a` waits 1.5 s for a replica, `b` 300 ms. */
let a: TestSystem;
let b: TestSystem;
/** Store pids stopped by a test, resumed after it whatever failed. */
let stopped: number[] = [];

beforeAll(async () => {
  // A cluster of its own: stopping nodes must not disturb the other test files.
  cluster = await startLocalCluster({ freePorts: true, dir: root });
  const env = { REDIS_NODES: cluster.seeds, WAIT_REPLICAS: '1' };
  a = createTestSystem({ ...env, WAIT_TIMEOUT_MS: '1500' });
  b = createTestSystem({ ...env, WAIT_TIMEOUT_MS: '300', KEY_NAMESPACE: a.config.KEY_NAMESPACE });
}, 90_000);

// A failed test must not leave nodes stopped under the next one.
afterEach(() => {
  signalAll(stopped, 'SIGCONT');
  stopped = [];
});

afterAll(async () => {
  await b?.close();
  await a?.close();
  await cluster?.stop();
  await rm(root, { recursive: true, force: true });
});

/** The replica (port and pid) of the master that holds `user`'s shard. */
async function replicaOf(user: string): Promise<{ port: number; pid: number }> {
  const slot = keySlot(`{${a.keyspace.shard(shardOf(user, a.keyspace.shards)).tag}}`);
  const { nodes } = await cluster.status();
  const master = nodes.find((n) => n.role === 'master' && n.slots.some(([x, y]) => x <= slot && slot <= y));
  const replica = nodes.find((n) => n.role === 'replica' && n.masterPort === master?.port);
  if (!replica?.pid) throw new Error(`no replica serves slot ${slot}`);
  return { port: replica.port, pid: replica.pid };
}
const replicaPidOf = async (user: string) => (await replicaOf(user)).pid;

/** orderflow_orders_placed_total of `system`'s process. */
async function placedCount(system: TestSystem): Promise<number> {
  const text = await (await system.app.request('/metrics?scope=process')).text();
  return Number(/^orderflow_orders_placed_total (\d+)$/m.exec(text)?.[1] ?? 0);
}

const ordersOf = async (user: string): Promise<Array<{ order_id: string }>> =>
  (await b.get(`/orders?user_id=${user}`)).body.orders;

/** Retries like a careful client (same key, every 503 retried) until a 202. */
const placeUntilAccepted = (system: TestSystem, body: object, key: string) =>
  waitFor(
    async () => {
      const res = await system.place(body, { 'idempotency-key': key });
      return res.status === 202 ? res : undefined;
    },
    30_000,
    'a 202',
  );

describe('when a replica lags', () => {
  it('answers a retried key 503 until a replica holds the order, then 202 replayed', async () => {
    const body = { user_id: 'lagging' };
    const key = { 'idempotency-key': 'lag-1' };
    stopped = [await replicaPidOf(body.user_id)];
    signalAll(stopped, 'SIGSTOP');
    expect((await b.place(body, key)).status).toBe(503);
    expect((await b.place(body, key)).status).toBe(503); // the same API instance
    expect((await a.place(body, key)).status).toBe(503); // another one, its own connections
    signalAll(stopped, 'SIGCONT');
    stopped = [];
    const replayed = await placeUntilAccepted(b, body, 'lag-1');
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect((await ordersOf(body.user_id)).map((o) => o.order_id)).toEqual([replayed.body.order_id]);
  });

  it('answers a concurrent request with the same key 503 while the first still waits for a replica', async () => {
    const body = { user_id: 'lagging-race' };
    const key = { 'idempotency-key': 'race-1' };
    stopped = [await replicaPidOf(body.user_id)];
    signalAll(stopped, 'SIGSTOP');
    let firstDone = false;
    const first = a.place(body, key).finally(() => {
      firstDone = true;
    });
    // The first request's transaction is committed on the master; its WAIT (1.5 s) is under way.
    await waitFor(async () => ((await ordersOf(body.user_id)).length === 1 ? true : undefined), 1000);
    const second = await b.place(body, key);
    expect(firstDone).toBe(false);
    expect(second.status).toBe(503);
    expect((await first).status).toBe(503);
    signalAll(stopped, 'SIGCONT');
    stopped = [];
    const replayed = await placeUntilAccepted(b, body, 'race-1');
    expect((await ordersOf(body.user_id)).map((o) => o.order_id)).toEqual([replayed.body.order_id]);
  });
});

describe("when the shard's master has no replica online", () => {
  // The chaos run (seed hunt-1) lost two 202s: placed on a master promoted a moment before, with no
  // replica yet, they were not waited on at all, and its own failover then dropped them.
  it('answers 503 with the key instead of acknowledging an order only the primary holds', async () => {
    const user = 'pf-no-replica';
    const replica = await replicaOf(user);
    const placedBefore = await placedCount(a);
    await cluster.killNode(replica.port, 'SIGKILL');
    try {
      const res = await a.place({ user_id: user }, { 'idempotency-key': 'pf-no-replica-key' });
      expect(res.status).toBe(503);
      // Stored, so counted as placed (the seed-s6 chaos run: such orders were never counted).
      expect(await placedCount(a)).toBe(placedBefore + 1);
      expect(res.headers.get('idempotency-key')).toBe('pf-no-replica-key');
      expect(res.body.detail).toMatch(/replica/);
    } finally {
      await cluster.startNode(replica.port);
    }
    // Back and in sync, the replica confirms it: the same key then returns the one order.
    const accepted = await placeUntilAccepted(a, { user_id: user }, 'pf-no-replica-key');
    expect(accepted.headers.get('idempotent-replayed')).toBe('true');
    expect(await ordersOf(user)).toHaveLength(1);
    expect(await placedCount(a)).toBe(placedBefore + 1);
  }, 60_000);
});

describe('when the key is bound and the record exists but its chain does not', () => {
  it('creates the chain with the same ids instead of acknowledging a record nobody will process', async () => {
    const request = { user_id: 'chainless' };
    const shard = shardOf(request.user_id, b.keyspace.shards);
    const keys = b.keyspace.shard(shard);
    const order = newOrder(newOrderId(shard), shard, request, new Date());
    // What a transaction applied in part would leave (Redis does not roll back a failed command's neighbours).
    const binding = `${order.order_id} ${requestHash(request)}`;
    const multi = b.store.multi();
    b.orders.queueCreate(multi, order, {
      key: keys.idempotency(request.user_id, 'half'),
      value: binding,
      ttlS: 600,
    });
    await multi.exec();
    await b.orders.claimIdempotency(shard, request.user_id, 'half', binding, 600);

    const res = await b.place(request, { 'idempotency-key': 'half' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ order_id: order.order_id, created_at: order.created_at });
    const jobKeys = STEPS.map((step) => keys.queueKey(stepJobId(order.order_id, step)));
    expect(await b.store.exists(...jobKeys)).toBe(STEPS.length);
  });
});

describe("when a placement's write is resent after a failover lost its claim", () => {
  // Seed s9 of the chaos run: a request claimed its key and wrote its order on a master whose
  // replication was held back; the master died, so the claim was lost, but ioredis resent the
  // unanswered MULTI to the promoted replica. The client's retry (same key) found the key free and
  // made a second order: two orders for one key. The write now checks the key's binding itself.
  const request = { user_id: 'pf-resend' };
  const shard = shardOf(request.user_id, 12);
  /** The first attempt's MULTI as ioredis resends it (only its record part matters here). */
  async function resend(key: string): Promise<{ reply: unknown; order: ReturnType<typeof newOrder> }> {
    const order = newOrder(newOrderId(shard), shard, request, new Date());
    const bindingKey = b.keyspace.shard(shard).idempotency(request.user_id, key);
    const multi = b.store.multi();
    b.orders.queueCreate(multi, order, {
      key: bindingKey,
      value: `${order.order_id} ${requestHash(request)}`,
      ttlS: 600,
    });
    const results = (await multi.exec()) ?? [];
    expect(results[0]?.[0]).toBeNull();
    return { reply: results[0]?.[1], order };
  }

  it('creates nothing when the retry bound the key to its own order first, and names that binding', async () => {
    const retry = await b.place(request, { 'idempotency-key': 'pf-resend-a' });
    expect(retry.status).toBe(202);
    const { reply, order } = await resend('pf-resend-a');
    expect(reply).toBe(`${retry.body.order_id} ${requestHash(request)}`);
    expect(await b.orders.read(order.order_id)).toBeNull();
  });

  it('binds the key it finds free, so the retry then returns that order, not a second one', async () => {
    const before = (await ordersOf(request.user_id)).length;
    const { reply, order } = await resend('pf-resend-b');
    expect(reply).toBe(1);
    const retry = await b.place(request, { 'idempotency-key': 'pf-resend-b' });
    expect(retry.status).toBe(202);
    expect(retry.body.order_id).toBe(order.order_id);
    expect(await ordersOf(request.user_id)).toHaveLength(before + 1);
  });
});

describe('when the backlog is over its limit', () => {
  it('answers 429 and writes nothing, not even an idempotency key', async () => {
    const limited = createTestSystem({ REDIS_NODES: cluster.seeds, BACKLOG_LIMIT: '1' });
    try {
      for (const user of ['full-1', 'full-2'])
        expect((await limited.place({ user_id: user })).status).toBe(202);
      await limited.backlog.sample();
      const masters = (limited.store as Cluster).nodes('master');
      const keys = async () =>
        (await Promise.all(masters.map((n) => n.keys(`${limited.config.KEY_NAMESPACE}:*`)))).flat().sort();
      const before = await keys();
      const refused = await limited.place({ user_id: 'full-3' });
      const refusedWithKey = await limited.place({ user_id: 'full-3' }, { 'idempotency-key': 'k' });
      expect([refused.status, refusedWithKey.status]).toEqual([429, 429]);
      expect(refused.headers.get('idempotency-key')).toBeNull();
      expect(await keys()).toEqual(before);
    } finally {
      await limited.close();
    }
  });
});

describe('when the whole store stops answering', () => {
  it('answers 503 within the budget with a key whose retry returns one order, never a second', async () => {
    const body = { user_id: 'outage' };
    expect((await b.get('/ready')).status).toBe(200);
    stopped = await cluster.pids();
    signalAll(stopped, 'SIGSTOP');
    const started = Date.now();
    const refused = await b.place(body); // no Idempotency-Key
    const elapsed = Date.now() - started;
    await resumeStore(cluster, stopped);
    stopped = [];
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(elapsed).toBeLessThan(3000 + 1000);
    // Nothing is sent after the deadline. The first attempt's transaction (the key, the record and
    // the chain: ADR 0022), on the wire before it, may land once the store answers: one order at most.
    const landed = (await ordersOf(body.user_id)).map((o) => o.order_id);
    expect(landed.length).toBeLessThanOrEqual(1);

    // The client retries with whatever the 503 gave it.
    const key: string | undefined = refused.body.idempotency_key;
    const retry = () =>
      waitFor(async () => {
        const res = await b.place(body, key ? { 'idempotency-key': key } : {});
        return res.status === 202 ? res : undefined;
      }, 30_000);
    const [first, again] = [await retry(), await retry()];
    expect((await ordersOf(body.user_id)).map((o) => o.order_id)).toEqual([first.body.order_id]);
    if (landed.length) expect(first.body.order_id).toBe(landed[0]);
    expect(again.body.order_id).toBe(first.body.order_id);
    expect(key).toMatch(/^[\x21-\x7e]{1,128}$/);
    expect(refused.headers.get('idempotency-key')).toBe(key);
  });
});
