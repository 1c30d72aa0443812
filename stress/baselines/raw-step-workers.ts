// Baseline of the pipeline benchmark: plain BullMQ Workers, one per shard queue, running the same chains
// with no-op steps: no gate, no order record, no fenced writes, no logging per step.
// RAW_CONCURRENCY=split shares WORKER_CONCURRENCY among the Workers (a process as wide as an orderflow
// node); unset or `per-worker` gives each Worker all of it (12 × 50 = 600 in flight: the old, uncapped row).
// A bench-only entry: it reads that one variable itself rather than widen the product's config.
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import { loadConfig } from '../../shared/config.js';
import { createKeyspace } from '../../shared/keys.js';
import { createLogger } from '../../shared/logger.js';
import { createNodeRegistry, registryTtlMs } from '../../shared/node-registry.js';
import { runMain } from '../../shared/process.js';
import { createStore } from '../../shared/store.js';
import { splitConcurrency } from './concurrency-split.js';

runMain('raw-step-workers', async ({ onShutdown }) => {
  const config = loadConfig();
  const logger = createLogger(config, { service: 'raw-step-workers', node_id: config.NODE_ID });
  const store = createStore(config, { connectionName: `orderflow-bench-raw-${config.NODE_ID}` });
  const keyspace = createKeyspace(config.SHARDS, config.KEY_NAMESPACE);
  let processed = 0;
  const mode = process.env.RAW_CONCURRENCY === 'split' ? 'split' : 'per-worker';
  // BullMQ's own concurrency is per Worker: split, the process has WORKER_CONCURRENCY in flight at most, as
  // an orderflow node; per worker, each Worker has all of it (raw BullMQ at its most generous).
  const shares =
    mode === 'split'
      ? splitConcurrency(config.WORKER_CONCURRENCY, keyspace.shards)
      : keyspace.all().map(() => config.WORKER_CONCURRENCY);
  const workers = keyspace.all().map((keys, i) => {
    const worker = new Worker(keys.queueName, async () => ({ ok: true }), {
      connection: store,
      prefix: keys.queuePrefix,
      concurrency: shares[i]!,
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
        concurrency: shares.reduce((a, b) => a + b, 0),
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
  logger.info({ event: 'ready', shards: config.SHARDS, concurrency_mode: mode, concurrency: shares });

  onShutdown('heartbeat', async () => {
    clearInterval(heartbeat);
    await registry.deregister(config.NODE_ID);
  });
  onShutdown('workers', async () => void (await Promise.allSettled(workers.map((w) => w.close()))));
  onShutdown('store', async () => void (await store.quit()));
  return logger;
});
