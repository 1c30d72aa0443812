// The API process wired once: its parts (defaults from `apiParts`), the app, the HTTP server, and one
// close order. server/main.ts and the tests use it; the bench runs it through server/main.ts.
import { serve } from '@hono/node-server';
import type { Tracer } from '@opentelemetry/api';
import type { Config } from '../shared/config.js';
import { createKeyspace, type Keyspace } from '../shared/keys.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createOrderStore, type OrderStore } from '../shared/order-store.js';
import { type CloseStep, closeInOrder } from '../shared/process.js';
import { createStore, type Store } from '../shared/store.js';
import { createApp } from './app.js';
import { createOrderEventHub } from './events/order-event-hub.js';
import { orderCounter } from './metrics.js';
import { createOperations, type Operations } from './operations.js';
import { type BacklogMonitor, createBacklogMonitor } from './orders/backlog.js';
import { createPlacement } from './orders/place-order.js';
import { PlacementProducer } from './orders/placement-producer.js';
import { createReplicaConfirmation, type ReplicaConfirmation } from './orders/replica-confirmation.js';

/** What the API is built from. A part passed in is the caller's to close; the rest are the runtime's. */
export interface ApiParts {
  logger: Logger;
  store: Store;
  keyspace: Keyspace;
  orders: OrderStore;
  producer: PlacementProducer;
  /** Samples every shard's wait list once started; placement answers 429 past BACKLOG_LIMIT. */
  backlog: BacklogMonitor;
  replicas: ReplicaConfirmation;
  /** Node registry, shard queues, metrics and activity counts of the operations surfaces. */
  ops: Operations;
}

export interface ApiRuntimeOptions extends Partial<ApiParts> {
  /** Traces every request when given (shared/tracing.ts; absent with tracing off). */
  tracer?: Tracer;
  /** How often the operations' activity counts are written (default 1 s); ignored when `ops` is given. */
  opsFlushEveryMs?: number;
}

/** The defaults of every part not given, built from `config`; nothing connects until used. */
export function apiParts(config: Config, given: ApiRuntimeOptions = {}): ApiParts {
  const logger = given.logger ?? createLogger(config, { service: 'api' });
  const store = given.store ?? createStore(config, { connectionName: 'orderflow-api' });
  const keyspace = given.keyspace ?? createKeyspace(config.SHARDS, config.KEY_NAMESPACE);
  const producer = given.producer ?? new PlacementProducer({ connection: store });
  if (!given.producer) {
    producer.on('error', (error) => logger.warn({ event: 'flow-producer-error', err: error }));
  }
  const deps = { config, store, keyspace, logger };
  return {
    logger,
    store,
    keyspace,
    orders: given.orders ?? createOrderStore(store, keyspace, config.ORDER_TTL_S),
    producer,
    backlog: given.backlog ?? createBacklogMonitor(deps),
    replicas: given.replicas ?? createReplicaConfirmation(deps),
    ops: given.ops ?? createOperations({ ...deps, flushEveryMs: given.opsFlushEveryMs }),
  };
}

/** Builds the API of one process; nothing listens or samples until `start()`. */
export function createApiRuntime(config: Config, options: ApiRuntimeOptions = {}) {
  const parts = apiParts(config, options);
  const { logger, store, keyspace, orders, producer, backlog, replicas, ops } = parts;
  const onStored = orderCounter(ops, logger, ops.metrics.ordersPlaced, 'orders_placed');
  const placement = createPlacement({
    config,
    keyspace,
    orders,
    producer,
    logger,
    backlog,
    replicas,
    onStored,
  });
  // Open event streams end first at close: the HTTP server's close waits for every connection to end.
  const events = createOrderEventHub({
    store,
    keyspace,
    logger,
    maxStreams: config.SSE_MAX_STREAMS,
    pollMs: config.SSE_POLL_MS,
  });
  const app = createApp({
    config,
    keyspace,
    store,
    orders,
    placement,
    logger,
    ops,
    tracer: options.tracer,
    events,
  });
  let server: ReturnType<typeof serve> | undefined;
  let closing: Promise<void> | undefined;

  return {
    ...parts,
    config,
    /** The routes; tests drive it with `app.request()`, no socket. */
    app,

    /** Starts the monitors and listens on HOST:PORT; resolves with the bound port (PORT=0 picks one). */
    start(): Promise<{ port: number }> {
      backlog.start();
      replicas.start();
      return new Promise((resolve, reject) => {
        const listening = serve({ fetch: app.fetch, hostname: config.HOST, port: config.PORT }, (info) => {
          logger.info({ event: 'listening', url: `http://${config.HOST}:${info.port}` });
          resolve({ port: info.port });
        });
        listening.once('error', reject);
        server = listening;
      });
    },

    /** HTTP server, monitors, flow producer, operations, then the store it built; each even if one throws. Idempotent. */
    close(): Promise<void> {
      closing ??= (async () => {
        const steps: CloseStep[] = [{ name: 'event streams', run: () => events.close() }];
        const http = server;
        if (http) steps.push({ name: 'http server', run: () => new Promise((r) => http.close(() => r())) });
        steps.push({
          name: 'backlog and replica monitors',
          run: () => {
            backlog.stop();
            replicas.stop();
          },
        });
        if (!options.producer) steps.push({ name: 'flow producer', run: () => producer.close() });
        if (!options.ops)
          steps.push({ name: 'operations (board queues, activity counts)', run: () => ops.close() });
        if (!options.store) steps.push({ name: 'store', run: async () => void (await store.quit()) });
        await closeInOrder(steps, logger);
      })();
      return closing;
    },
  };
}

export type ApiRuntime = ReturnType<typeof createApiRuntime>;
