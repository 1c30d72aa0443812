// Builds orderflow in-process for integration tests: the app (driven by app.request) and worker nodes,
// each test run under its own key namespace on the shared test cluster, deleted again by close().
import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { waitUntil } from '../../scripts/kit/wait.js';
import type { Operations } from '../../server/operations.js';
import type { BacklogMonitor } from '../../server/orders/backlog.js';
import { type ApiRuntime, type ApiRuntimeOptions, createApiRuntime } from '../../server/runtime.js';
import { type Config, loadConfig } from '../../shared/config.js';
import type { OrderRecord } from '../../shared/domain/order.js';
import type { Keyspace } from '../../shared/keys.js';
import { createLogger } from '../../shared/logger.js';
import type { StepJobData } from '../../shared/order-flow.js';
import type { OrderStore } from '../../shared/order-store.js';
import { keySlot } from '../../shared/sharding.js';
import { createStore, type Store } from '../../shared/store.js';
import { createWorkerRuntime, type WorkerRuntime, type WorkerRuntimeOptions } from '../../workers/runtime.js';
import { redisNodes } from './cluster.js';

/**
 * A config for tests: fast steps, no random failures, its own namespace, silent logs. A test that
 * needs a step to fail plugs in handlers: `startNode(overrides, { handlers })` (step-handlers.ts).
 */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    REDIS_NODES: redisNodes(),
    KEY_NAMESPACE: `t${randomBytes(5).toString('hex')}`,
    STEP_MS: '30',
    COMPENSATION_MS: '10',
    STEP_FAILURE_RATE: '0',
    // Generous: on two loaded cores a replica's ack took longer than the 200 ms default, and a
    // placement a test expected to be acknowledged answered 503. Fault tests set their own.
    WAIT_TIMEOUT_MS: '2000',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
}

/**
 * Optional parts of a test's worker node: its step handlers (default: the simulated steps of the
 * node's config), its telemetry (default: none) and drain handling, as workers/main.ts wires them.
 */
export type NodeHooks = Pick<WorkerRuntimeOptions, 'handlers' | 'telemetry' | 'onDrainRequested' | 'logger'>;

export interface TestSystem {
  config: Config;
  keyspace: Keyspace;
  store: Store;
  orders: OrderStore;
  /** Not sampling by itself: a test calls `sample()` so that what it sees is deterministic. */
  backlog: BacklogMonitor;
  app: ApiRuntime['app'];
  /** The operations surfaces' registry, queues, metrics and activity counts. */
  ops: Operations;
  /** A BullMQ Worker without a processor on `shard`'s queue, for a test to take jobs by hand; closed by `close()`. */
  handWorker(shard: number): Worker<StepJobData>;
  /** Starts a worker node in this process, wired by createWorkerRuntime; closed by `close()`. */
  startNode(env?: Partial<Config>, hooks?: NodeHooks): WorkerRuntime;
  /** POST /orders with a JSON body; returns status and parsed body. */
  place(
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  get(path: string): Promise<{ status: number; body: any }>;
  /** Every key of order data (under a shard's hash tag) of this system's namespace, sorted, across the cluster. */
  writtenKeys(): Promise<string[]>;
  /** Polls GET /orders/:id until the order is completed or failed. */
  waitForTerminal(orderId: string, timeoutMs?: number): Promise<OrderRecord>;
  /**
   * Closes the nodes, hand workers and queues, deletes every key of the namespace, then closes the
   * connections. Idempotent; the system cannot be used afterwards.
   */
  close(): Promise<void>;
}

/** Polls `check` every 25 ms until it returns a value (scripts/kit/wait.ts); an error of `check` ends the wait. */
export function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition') {
  return waitUntil(what, check, timeoutMs, { everyMs: 25, retryErrors: false });
}

const UNLINK_BATCH = 500;

/**
 * Unlinks every key of `namespace` on the store, the way BullMQ's own tests obliterate their queues,
 * so a test run leaves the shared cluster as it found it. Each master is SCANned (a Cluster answers
 * SCAN per node); the keys found are unlinked through `store`, one slot at a time, because a
 * cluster node refuses a multi-key command across slots and `store` follows a slot that moved.
 * Returns how many keys it unlinked.
 */
export async function deleteNamespace(store: Store, namespace: string): Promise<number> {
  // A Cluster knows its masters only once it has read the slot map; a PING waits for that.
  await store.ping();
  const masters = 'nodes' in store ? store.nodes('master') : [store];
  const pattern = `${namespace.replace(/[*?[\]\\]/g, '\\$&')}:*`;
  let unlinked = 0;
  await Promise.all(
    masters.map(async (node) => {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        const bySlot = new Map<number, string[]>();
        for (const key of keys) {
          const slot = keySlot(key);
          const group = bySlot.get(slot);
          if (group) group.push(key);
          else bySlot.set(slot, [key]);
        }
        for (const group of bySlot.values()) {
          for (let i = 0; i < group.length; i += UNLINK_BATCH) {
            unlinked += await store.unlink(...group.slice(i, i + UNLINK_BATCH));
          }
        }
      } while (cursor !== '0');
    }),
  );
  return unlinked;
}

/**
 * The API and store of one test file, wired by createApiRuntime (not listening: tests drive
 * `app.request`); worker nodes on demand. `parts` replaces parts of the API, as createApiRuntime's.
 */
export function createTestSystem(
  env: Record<string, string> = {},
  parts: Omit<ApiRuntimeOptions, 'store'> = {},
): TestSystem {
  const config = testConfig(env);
  const logger = createLogger(config, { service: 'test' });
  // The system's own, so that close() can delete the namespace through it after the API closed.
  const store = createStore(config);
  const api = createApiRuntime(config, { logger, store, ...parts });
  const { keyspace, orders, backlog, ops, app } = api;
  const nodes: WorkerRuntime[] = [];
  const handWorkers: Worker[] = [];
  let closing: Promise<void> | undefined;

  const get = async (path: string) => {
    const res = await app.request(path);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  return {
    config,
    keyspace,
    store,
    orders,
    backlog,
    app,
    ops,
    startNode(overrides = {}, hooks = {}) {
      const nodeConfig = { ...config, NODE_ID: `node-${nodes.length + 1}`, ...overrides };
      const node = createWorkerRuntime(nodeConfig, { logger, telemetry: null, ...hooks });
      nodes.push(node);
      // Synchronous up to the node's start unless NODE_PORT binds a probe.
      node.start().catch((error) => logger.error({ event: 'test-node-start-failed', err: error }));
      return node;
    },
    async place(body, headers = {}) {
      const res = await app.request('/orders', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
    },
    get,
    async writtenKeys() {
      const masters = 'nodes' in store ? store.nodes('master') : [store];
      const keys = await Promise.all(masters.map((node) => node.keys(`${config.KEY_NAMESPACE}:{s*`)));
      return keys.flat().sort();
    },
    waitForTerminal(orderId, timeoutMs = 20_000) {
      return waitFor(
        async () => {
          const { body } = await get(`/orders/${orderId}`);
          return body?.status === 'completed' || body?.status === 'failed'
            ? (body as OrderRecord)
            : undefined;
        },
        timeoutMs,
        `order ${orderId} to finish`,
      );
    },
    handWorker(shard) {
      const keys = keyspace.shard(shard);
      const worker = new Worker<StepJobData>(keys.queueName, null, {
        connection: store,
        prefix: keys.queuePrefix,
        autorun: false,
      });
      handWorkers.push(worker);
      return worker;
    },
    close() {
      closing ??= (async () => {
        await Promise.allSettled(handWorkers.map((worker) => worker.close()));
        await Promise.allSettled(nodes.map((node) => node.close()));
        await api.close().catch(() => undefined); // each failed step is logged
        try {
          // Only now: every writer of this namespace in this process has stopped.
          await deleteNamespace(store, config.KEY_NAMESPACE);
        } finally {
          await store.quit().catch(() => undefined);
        }
      })();
      return closing;
    },
  };
}
