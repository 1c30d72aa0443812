// Baseline of the pipeline benchmark: plain BullMQ Workers, one per shard queue, running the same chains
// with no-op steps: no gate, no order record, no fenced writes, no logging per step.
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import { loadConfig } from '../../shared/config.js';
import { createKeyspace } from '../../shared/keys.js';
import { createLogger } from '../../shared/logger.js';
import { createNodeRegistry, registryTtlMs } from '../../shared/node-registry.js';
import { runMain } from '../../shared/process.js';
import { createStore } from '../../shared/store.js';

runMain('raw-step-workers', async ({ onShutdown }) => {
  const config = loadConfig();
  const logger = createLogger(config, { service: 'raw-step-workers', node_id: config.NODE_ID });
  const store = createStore(config, { connectionName: `orderflow-bench-raw-${config.NODE_ID}` });
  const keyspace = createKeyspace(config.SHARDS, config.KEY_NAMESPACE);
  let processed = 0;
  // BullMQ's own concurrency is per Worker; WORKER_CONCURRENCY each is raw BullMQ at its most generous.
  const workers = keyspace.all().map((keys) => {
    const worker = new Worker(keys.queueName, async () => ({ ok: true }), {
      connection: store,
      prefix: keys.queuePrefix,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.LOCK_MS,
      stalledInterval: config.STALLED_INTERVAL_MS,
    });
    worker.on('completed', () => processed++);
    worker.on('error', (error) => logger.error({ event: 'worker-error', shard: keys.shard, err: error }));
    return worker;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));

  // Registering like a worker node lets the bench wait for these processes the same way.
  const registry = createNodeRegistry(store, config.KEY_NAMESPACE, {
    ttlMs: registryTtlMs(config.HEARTBEAT_MS),
  });
  const startedAt = new Date().toISOString();
  const beat = () =>
    registry
      .heartbeat({
        id: config.NODE_ID,
        host: hostname(),
        pid: process.pid,
        version: 'raw-bullmq',
        concurrency: config.WORKER_CONCURRENCY,
        step_ms: 0, // no-op steps that never fail
        step_failure_rate: 0,
        active: 0,
        processed,
        failed: 0,
        stalled_recovered: 0,
        lock_lost: 0,
        state: 'running',
        store_ok: true,
        started_at: startedAt,
        last_seen: new Date().toISOString(),
      })
      .catch((error) => logger.warn({ event: 'heartbeat-failed', err: error }));
  await beat();
  const heartbeat = setInterval(beat, config.HEARTBEAT_MS);
  logger.info({ event: 'ready', shards: config.SHARDS });

  onShutdown('heartbeat', async () => {
    clearInterval(heartbeat);
    await registry.deregister(config.NODE_ID);
  });
  onShutdown('workers', async () => void (await Promise.allSettled(workers.map((w) => w.close()))));
  onShutdown('store', async () => void (await store.quit()));
  return logger;
});
