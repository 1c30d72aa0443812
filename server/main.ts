// The API process: wires config, store and app once, listens, and closes cleanly on SIGTERM/SIGINT.
import { serve } from '@hono/node-server';
import { loadConfig } from '../shared/config.js';
import { createKeyspace } from '../shared/keys.js';
import { createLogger } from '../shared/logger.js';
import { createOrderStore } from '../shared/order-store.js';
import { runMain, tellSupervisor } from '../shared/process.js';
import { createStore } from '../shared/store.js';
import { createApp } from './app.js';
import { createOrderEventHub } from './events/order-event-hub.js';
import { createOperations } from './operations.js';
import { createBacklogMonitor } from './orders/backlog.js';
import { createPlacement } from './orders/place-order.js';
import { PlacementProducer } from './orders/placement-producer.js';
import { createReplicaConfirmation } from './orders/replica-confirmation.js';

runMain('api', async ({ onShutdown }) => {
  const config = loadConfig();
  const logger = createLogger(config, { service: 'api' });
  const store = createStore(config, { connectionName: 'orderflow-api' });
  const keyspace = createKeyspace(config.SHARDS, config.KEY_NAMESPACE);
  const orders = createOrderStore(store, keyspace, config.ORDER_TTL_S);
  const producer = new PlacementProducer({ connection: store });
  producer.on('error', (error) => logger.warn({ event: 'flow-producer-error', err: error }));
  const backlog = createBacklogMonitor({ store, keyspace, logger });
  backlog.start();
  const replicas = createReplicaConfirmation({ config, store, keyspace, logger });
  replicas.start();
  const placement = createPlacement({ config, keyspace, orders, producer, logger, backlog, replicas });
  const ops = createOperations({ config, keyspace, store, logger });
  const maxStreams = config.SSE_MAX_STREAMS;
  const events = createOrderEventHub({ store, keyspace, logger, maxStreams, pollMs: config.SSE_POLL_MS });
  const app = createApp({ config, keyspace, store, orders, placement, logger, ops, events });
  const server = serve({ fetch: app.fetch, hostname: config.HOST, port: config.PORT }, (info) => {
    logger.info({ event: 'listening', url: `http://${config.HOST}:${info.port}` });
    // With PORT=0 the port is known only now; `npm start` prints its URLs from this.
    tellSupervisor({ event: 'listening', port: info.port });
  });
  // Open event streams end first: the HTTP server's close waits for every connection to end.
  onShutdown('event streams', () => events.close());
  onShutdown('http server', () => new Promise<void>((resolve) => server.close(() => resolve())));
  onShutdown('backlog and replica monitors', () => {
    backlog.stop();
    replicas.stop();
  });
  onShutdown('flow producer', () => producer.close());
  onShutdown('operations (board queues, activity counts)', () => ops.close());
  onShutdown('store', async () => void (await store.quit()));
  return logger;
});
