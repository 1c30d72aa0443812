// A Worker's blocking wait must end even when BullMQ's own recovery of it hangs. Found by the chaos
// run (seed hunt-1, lagging failovers): after the store stalled, every Worker of a shard, on every
// node, stayed inside BullMQ's waitForJob for minutes, its watchdog awaiting the 'end' of a blocking
// Cluster client that had been reconnected under it; the shard's orders stayed `accepted` forever.
// Here the master of the queue's slot is killed while the Worker blocks on it, its replica takes
// over, the old master comes back as a replica, and a job added afterwards must still run.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_ROOT, type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import { createStore, type Store, waitForStore } from '../../shared/store.js';
import { GatedWorker } from '../../workers/gated-worker.js';
import { NodeGate } from '../../workers/node-gate.js';
import { signalAll } from '../support/cluster.js';

const QUEUE = 'blocking-wait';
const PREFIX = '{blocking-wait}';
/** BullMQ's block timeout is drainDelay (s); its watchdog fires 1 s after it. */
const DRAIN_DELAY_S = 1;

describe('a Worker whose blocking wait was cut off while the store stalled', () => {
  let cluster: LocalCluster;
  let store: Store;
  let queue: Queue;
  let worker: GatedWorker;
  const ran: string[] = [];
  const clusterRoot = path.join(DEFAULT_DATA_ROOT, `x-block-${process.pid}`);

  beforeAll(async () => {
    cluster = await startLocalCluster({ freePorts: true, dir: clusterRoot });
    const nodes = cluster.seeds.split(',').map((seed) => {
      const [host, port] = seed.split(':');
      return { host: host!, port: Number(port) };
    });
    store = createStore({ REDIS_NODES: nodes, REDIS_MODE: 'cluster' });
    await waitForStore(store);
    queue = new Queue(QUEUE, { connection: store, prefix: PREFIX });
    worker = new GatedWorker(
      QUEUE,
      async (job) => void ran.push(job.id!),
      { connection: store, prefix: PREFIX, autorun: false, drainDelay: DRAIN_DELAY_S },
      new NodeGate(4),
    );
    void worker.run();
    await worker.waitUntilReady();
  }, 120_000);

  afterAll(async () => {
    signalAll(await cluster.pids().catch(() => []), 'SIGCONT');
    await worker?.close(true).catch(() => undefined);
    await queue?.close().catch(() => undefined);
    store?.disconnect();
    await cluster?.stop();
    await rm(clusterRoot, { recursive: true, force: true });
  }, 60_000);

  it('still takes the jobs added after a failover of the master it blocked on', async () => {
    await queue.add('before', {}, { jobId: 'before' });
    await expect.poll(() => ran, { timeout: 15_000 }).toContain('before');
    const slot = Number(await (store as Cluster).call('CLUSTER', 'KEYSLOT', PREFIX));
    const masterOf = async () =>
      (await cluster.status()).nodes.find((n) => n.slots.some(([a, b]) => a <= slot && slot <= b))?.port;
    const victim = await masterOf();
    expect(victim).toBeDefined();
    // Idle, the Worker sits in BZPOPMIN on the victim.
    await sleep(500);
    await cluster.killNode(victim!, 'SIGKILL');
    await expect.poll(masterOf, { timeout: 30_000, interval: 250 }).not.toBe(victim);
    await cluster.startNode(victim!);
    await waitForStore(store, 30_000);
    await queue.add('after', {}, { jobId: 'after' });
    await expect.poll(() => ran, { timeout: 40_000, interval: 250 }).toContain('after');
  }, 90_000);
});
