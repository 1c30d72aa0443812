// A step's completion folded into BullMQ's move of its job (docs/adr/0023), on one Redis (as a
// single Dragonfly serves it, REDIS_MODE=dragonfly-emulated) and on the real cluster: both commit
// in one script or neither does, each refusal leaves every key as it was, and a node's step then
// costs its start write and that one script. These run on every bump of bullmq.
import { type ChildProcess, spawn } from 'node:child_process';
import { FlowProducer, type Job, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, isPortFree } from '../../scripts/kit/ports.js';
import { waitUntil } from '../../scripts/kit/wait.js';
import { checkMoveLayout, moveArgsOf } from '../../shared/bullmq-move.js';
import { newOrder } from '../../shared/domain/order.js';
import { completeStep, startStep } from '../../shared/domain/transitions.js';
import { createKeyspace, type Keyspace } from '../../shared/keys.js';
import { createLogger } from '../../shared/logger.js';
import { orderFlow, type StepJobData } from '../../shared/order-flow.js';
import { newOrderId, stepJobId } from '../../shared/order-id.js';
import { createOrderStore, type OrderStore, type VersionedOrder } from '../../shared/order-store.js';
import { shardOf } from '../../shared/sharding.js';
import { createStore, type Store } from '../../shared/store.js';
import { GatedWorker } from '../../workers/gated-worker.js';
import { NodeGate } from '../../workers/node-gate.js';
import { createStepProcessor } from '../../workers/step-processor.js';
import { scriptedHandlers } from '../support/step-handlers.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem();
afterAll(() => system.close());

/** A store holding orders and their chains, and a hand-driven Worker per shard. */
interface World {
  store: Store;
  keyspace: Keyspace;
  orders: OrderStore;
  place(userId: string): Promise<{ orderId: string; shard: number }>;
  handWorker(shard: number): Worker<StepJobData>;
}

const onCluster = (): World => ({
  store: system.store,
  keyspace: system.keyspace,
  orders: system.orders,
  async place(userId) {
    const placed = await system.place({ user_id: userId });
    return { orderId: placed.body.order_id as string, shard: placed.body.shard as number };
  },
  handWorker: (shard) => system.handWorker(shard),
});

/** One redis-server of its own, with orders placed as the API does: record, then chain. */
function onOneRedis() {
  let server: ChildProcess | undefined;
  const world = {} as World;
  const closers: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    const port = await findFreePort({ from: 27_000, to: 28_000, random: true });
    server = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    await waitUntil('redis-server to listen', async () => !(await isPortFree(port)), 10_000);
    const store = createStore({
      REDIS_NODES: [{ host: '127.0.0.1', port }],
      REDIS_MODE: 'dragonfly-emulated',
    });
    const keyspace = createKeyspace(12, 'fold');
    const orders = createOrderStore(store, keyspace, 3600);
    const flows = new FlowProducer({ connection: store });
    closers.push(
      () => flows.close(),
      () => store.quit(),
    );
    Object.assign(world, {
      store,
      keyspace,
      orders,
      async place(userId: string) {
        const shard = shardOf(userId, keyspace.shards);
        const order = newOrder(newOrderId(shard), shard, { user_id: userId }, new Date());
        const keys = keyspace.shard(shard);
        const multi = store.multi();
        orders.queueCreate(multi, order, {
          key: keys.idempotency(userId, order.order_id),
          value: order.order_id,
          ttlS: 60,
        });
        await multi.exec();
        await flows.add(orderFlow(order, keys));
        return { orderId: order.order_id, shard };
      },
      handWorker(shard: number) {
        const keys = keyspace.shard(shard);
        const worker = new Worker<StepJobData>(keys.queueName, null, {
          connection: store,
          prefix: keys.queuePrefix,
          autorun: false,
        });
        closers.push(() => worker.close());
        return worker;
      },
    } satisfies World);
  }, 30_000);
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    server?.kill('SIGTERM');
  });
  return world;
}

const RESULT = JSON.stringify({ step: 'scheduling', outcome: 'completed' });

describe.each([
  ['one Redis', onOneRedis],
  ['the cluster', onCluster],
])('the completion folded into BullMQ’s move, on %s', (_, worldOf) => {
  const w = worldOf();

  /** An order whose first step is active under `token`, its start written, as a run would leave it. */
  async function startedFirstStep(userId: string, token: string) {
    const { orderId, shard } = await w.place(userId);
    const keys = w.keyspace.shard(shard);
    const job = (await w.handWorker(shard).getNextJob(token)) as Job<StepJobData>;
    expect(job.id).toBe(stepJobId(orderId, 'scheduling'));
    const read = (await w.orders.read(orderId))!;
    const start = startStep(read.order, 'scheduling', 'n1', new Date());
    const current = (await w.orders.fencedWrite(job.id!, token, read, start)).written!;
    const done = completeStep(current.order, 'scheduling', 'n1', new Date());
    return { orderId, keys, job, current, done, lockKey: keys.jobLock(job.id!) };
  }

  /** Everything the fold may touch, read back: the record, its events, the job, its lock, its queue. */
  async function snapshot(orderId: string, job: Job<StepJobData>) {
    const keys = w.keyspace.shard(job.data.shard);
    const parentId = stepJobId(orderId, 'pre-processing');
    const s = w.store;
    return {
      record: await s.hgetall(keys.order(orderId)),
      events: await s.xlen(keys.orderEvents(orderId)),
      job: await s.hgetall(keys.queueKey(job.id!)),
      lock: await s.get(keys.jobLock(job.id!)),
      active: await s.lrange(keys.queueKey('active'), 0, -1),
      wait: await s.lrange(keys.queueKey('wait'), 0, -1),
      completed: await s.zrange(keys.queueKey('completed'), 0, -1),
      parent: await s.hgetall(keys.queueKey(parentId)),
      parentDependencies: await s.smembers(`${keys.queueKey(parentId)}:dependencies`),
    };
  }

  /** Takes the order's next step out of its queue's wait list, so that the next test's run finds its own. */
  async function takeNextStep(orderId: string, shard: number) {
    const next = await w.handWorker(shard).getNextJob('cleanup');
    expect(next?.id).toBe(stepJobId(orderId, 'pre-processing'));
  }

  const fold = (
    token: string,
    current: VersionedOrder,
    next: VersionedOrder['order'],
    job: Job,
    fetchNext = false,
  ) => w.orders.completeWithMove(token, current, next, moveArgsOf(job, RESULT, token, fetchNext));

  it('runs against the installed bullmq’s layout, and refuses one it does not know', async () => {
    const { job, keys } = await startedFirstStep('fold-layout', 'token-a');
    expect(() => checkMoveLayout(job, keys.queueKey(job.id!))).not.toThrow();
    expect(() => checkMoveLayout(job, keys.queueKey('another'))).toThrow(/KEYS\[12\]/);
  });

  it('commits the record and the move together', async () => {
    const { orderId, job, current, done, keys } = await startedFirstStep('fold-lands', 'token-a');
    const result = await fold('token-a', current, done, job);
    expect(result.outcome).toBe('written');
    expect(result.moved).toBe(0);
    const after = await snapshot(orderId, job);
    expect(JSON.parse(after.record.doc!).steps[0].status).toBe('completed');
    expect(Number(after.record.v)).toBe(current.version + 1);
    expect(after.lock).toBeNull();
    expect(after.active).not.toContain(job.id);
    expect(after.completed).toContain(job.id);
    expect(after.job.returnvalue).toBe(RESULT);
    // BullMQ's part ran whole: the parent no longer waits for this child, and is in wait.
    expect(after.parentDependencies).toEqual([]);
    expect(after.wait).toContain(stepJobId(orderId, 'pre-processing'));
    expect(await w.store.xlen(keys.orderEvents(orderId))).toBeGreaterThan(0);
    await takeNextStep(orderId, job.data.shard);
  });

  it('answers its own resend `already-written` and changes nothing more', async () => {
    const { orderId, job, current, done } = await startedFirstStep('fold-resend', 'token-a');
    const args = moveArgsOf(job, RESULT, 'token-a', false);
    expect((await w.orders.completeWithMove('token-a', current, done, args)).outcome).toBe('written');
    const landed = await snapshot(orderId, job);
    const resend = await w.orders.completeWithMove('token-a', current, done, args);
    expect(resend.outcome).toBe('already-written');
    expect(await snapshot(orderId, job)).toEqual(landed);
    await takeNextStep(orderId, job.data.shard);
  });

  it('hands back the next job it fetched, locked by the same token', async () => {
    const { orderId, job, current, done, lockKey } = await startedFirstStep('fold-fetch', 'token-a');
    const result = await fold('token-a', current, done, job, true);
    expect(result.outcome).toBe('written');
    const [data, nextId] = result.moved as [unknown[], string];
    expect(nextId).toBe(stepJobId(orderId, 'pre-processing'));
    expect(data.length).toBeGreaterThan(0);
    expect(await w.store.get(lockKey.replace(job.id!, nextId))).toBe('token-a');
  });

  describe('refuses, leaving every key as it was', () => {
    it('with the lock held by another run', async () => {
      const { orderId, job, current, done, lockKey } = await startedFirstStep('fold-wrong-lock', 'token-a');
      await w.store.set(lockKey, 'token-b');
      const before = await snapshot(orderId, job);
      expect((await fold('token-a', current, done, job)).outcome).toBe('lock-lost');
      expect(await snapshot(orderId, job)).toEqual(before);
    });

    it('with the lock expired', async () => {
      const { orderId, job, current, done, lockKey } = await startedFirstStep('fold-expired', 'token-a');
      await w.store.del(lockKey);
      const before = await snapshot(orderId, job);
      expect((await fold('token-a', current, done, job, true)).outcome).toBe('lock-lost');
      expect(await snapshot(orderId, job)).toEqual(before);
    });

    it('over a stale version', async () => {
      const { orderId, job, current, done } = await startedFirstStep('fold-stale', 'token-a');
      const moved = await w.orders.fencedWrite(job.id!, 'token-a', current, {
        ...current.order,
        region: 'x',
      });
      expect(moved.outcome).toBe('written');
      const before = await snapshot(orderId, job);
      expect((await fold('token-a', current, done, job)).outcome).toBe('conflict');
      expect(await snapshot(orderId, job)).toEqual(before);
    });

    it('while a cancel request waits, answering with it', async () => {
      const { orderId, job, current, done, keys } = await startedFirstStep('fold-cancel', 'token-a');
      const request = { requested_at: new Date().toISOString(), reason: 'test', requested_by: 'tester' };
      await w.store.hset(keys.order(orderId), 'c', JSON.stringify(request));
      const before = await snapshot(orderId, job);
      const result = await fold('token-a', current, done, job);
      expect(result).toMatchObject({ outcome: 'cancel-requested', request });
      expect(await snapshot(orderId, job)).toEqual(before);
    });
  });
});

describe('a node’s run of a step', () => {
  it('costs its start write and one folded completion per step, the order completing', async () => {
    const calls = { fencedWrite: 0, completeWithMove: 0 };
    const orders: OrderStore = {
      ...system.orders,
      fencedWrite: (...args) => {
        calls.fencedWrite++;
        return system.orders.fencedWrite(...args);
      },
      completeWithMove: (...args) => {
        calls.completeWithMove++;
        return system.orders.completeWithMove(...args);
      },
    };
    const placed = await system.place({ user_id: 'fold-node' });
    const orderId = placed.body.order_id as string;
    const keys = system.keyspace.shard(placed.body.shard);
    const processor = createStepProcessor({
      orders,
      nodeId: 'fold-node',
      handlers: scriptedHandlers(),
      maxStepCrashes: 2,
      logger: createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }),
    });
    const worker = new GatedWorker<StepJobData>(
      keys.queueName,
      processor,
      { connection: system.store, prefix: keys.queuePrefix, autorun: false },
      new NodeGate(4),
    );
    const completed: string[] = [];
    worker.on('completed', (job) => completed.push(job.id!));
    void worker.run();
    try {
      const order = await system.waitForTerminal(orderId, 30_000);
      expect(order.status).toBe('completed');
      expect(order.steps.map((s) => s.attempts.length)).toEqual([1, 1, 1, 1]);
      await expect.poll(() => completed.length, { timeout: 10_000 }).toBe(4);
      expect(calls).toEqual({ fencedWrite: 4, completeWithMove: 4 });
      // BullMQ counted each job completed once, with the result the fold stored.
      for (const id of completed) {
        expect(await system.store.hget(keys.queueKey(id), 'returnvalue')).toMatch(/"outcome":"completed"/);
        expect(await system.store.hget(keys.queueKey(id), 'atm')).toBe('1');
      }
    } finally {
      await worker.close();
    }
  });
});
