// Baseline of the placement benchmark: a bare Hono endpoint that adds an order's four-step chain with
// BullMQ's FlowProducer and nothing else (no validation, record, idempotency, WAIT or logging).
import { serve } from '@hono/node-server';
import { FlowProducer } from 'bullmq';
import { Hono } from 'hono';
import { loadConfig } from '../../shared/config.js';
import { createKeyspace } from '../../shared/keys.js';
import { createLogger } from '../../shared/logger.js';
import { orderFlow } from '../../shared/order-flow.js';
import { newOrderId } from '../../shared/order-id.js';
import { runMain } from '../../shared/process.js';
import { shardOf } from '../../shared/sharding.js';
import { createStore } from '../../shared/store.js';

runMain('bare-flow-baseline', async ({ onShutdown }) => {
  const config = loadConfig();
  const logger = createLogger(config, { service: 'bare-flow-baseline' });
  const store = createStore(config, { connectionName: 'orderflow-bench-bare-flow' });
  const keyspace = createKeyspace(config.SHARDS, config.KEY_NAMESPACE);
  const producer = new FlowProducer({ connection: store });

  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    await store.ping();
    return c.json({ status: 'ready' });
  });
  app.post('/orders', async (c) => {
    // The same chain as orderflow's placement: same shard, same queue, same job ids and options.
    const { user_id } = await c.req.json<{ user_id: string }>();
    const shard = shardOf(user_id, keyspace.shards);
    const order_id = newOrderId(shard);
    await producer.add(orderFlow({ order_id, user_id, shard }, keyspace.shard(shard)));
    return c.json({ order_id, status: 'accepted', shard }, 202);
  });

  const server = serve({ fetch: app.fetch, hostname: config.HOST, port: config.PORT }, (info) =>
    logger.info({ event: 'listening', url: `http://${config.HOST}:${info.port}` }),
  );
  onShutdown('http server', () => new Promise<void>((resolve) => server.close(() => resolve())));
  onShutdown('flow producer', () => producer.close());
  onShutdown('store', async () => void (await store.quit()));
  return logger;
});
