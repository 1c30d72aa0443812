// A store that stops answering: the API's /ready turns 503, a worker node's watchdog stops it taking
// steps and its /ready turns 503; when the store answers again both recover without a restart.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_ROOT, type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import { resumeStore, signalAll } from '../support/cluster.js';
import { killAll, type ServiceProcess, spawnApi, uniqueNamespace } from '../support/processes.js';
import { waitFor } from '../support/system.js';
import { spawnWorkerWithProbe } from '../support/worker-probe.js';

let cluster: LocalCluster;
const clusterRoot = path.join(DEFAULT_DATA_ROOT, `outage-${process.pid}`);
const services: ServiceProcess[] = [];
let api = '';
let probe = '';
let node: ServiceProcess;
/** Pids of the store nodes while they are stopped, so cleanup can resume them whatever failed. */
let stopped: number[] = [];

beforeAll(async () => {
  cluster = await startLocalCluster({
    freePorts: true,
    dir: clusterRoot,
  });
  const env = {
    REDIS_NODES: cluster.seeds,
    KEY_NAMESPACE: uniqueNamespace('out'),
    STEP_MS: '50',
    // The order placed after the outage must complete: no simulated failures.
    STEP_FAILURE_RATE: '0',
    HEARTBEAT_MS: '200',
  };
  const [started, worker] = await Promise.all([
    spawnApi('api', env, services),
    spawnWorkerWithProbe('node-w', { ...env, STORE_WATCHDOG_MS: '1000' }, services),
  ]);
  api = started.url;
  probe = worker.probe;
  node = worker.service;
  await node.waitForLog((l) => l.event === 'node-started');
}, 90_000);

afterAll(async () => {
  signalAll(stopped, 'SIGCONT');
  await killAll(services);
  await cluster?.stop();
  // stop() removes the cluster's own dir; the root this file made for it goes too.
  await rm(clusterRoot, { recursive: true, force: true });
});

const status = async (url: string) =>
  (await fetch(url, { signal: AbortSignal.timeout(5000) }).catch(() => null))?.status ?? 0;
const becomes = (url: string, expected: number, what: string, timeoutMs = 20_000) =>
  waitFor(async () => ((await status(url)) === expected ? true : undefined), timeoutMs, what);

/** POST /orders with one Idempotency-Key, retried while the store settles (a 503 while a failover runs). */
async function placeOrder(user: string): Promise<string> {
  const key = `${user}-${Date.now()}`;
  return waitFor(
    async () => {
      const res = await fetch(`${api}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ user_id: user }),
      }).catch(() => null);
      if (res?.status !== 202) {
        await res?.body?.cancel();
        return undefined;
      }
      return ((await res.json()) as { order_id: string }).order_id;
    },
    30_000,
    'the order placed after the outage to be accepted',
  );
}

describe('when the store stops answering and comes back', () => {
  it('reports not ready, stops taking steps, then recovers by itself', async () => {
    await becomes(`${api}/ready`, 200, 'the API to be ready');
    await becomes(`${probe}/ready`, 200, 'the node to be ready');

    const pids = await cluster.pids();
    expect(pids).toHaveLength(cluster.ports.length);
    stopped = pids;
    signalAll(pids, 'SIGSTOP');
    await becomes(`${api}/ready`, 503, 'the API to report not ready');
    await becomes(`${probe}/ready`, 503, 'the node to report not ready');
    expect(await status(`${api}/health`)).toBe(200);
    expect(await status(`${probe}/health`)).toBe(200);
    const paused = await node.waitForLog((l) => l.event === 'store-unreachable');
    expect(paused.action).toBe('no new steps until it answers');

    // Recovery, whatever the topology (see resumeStore).
    await resumeStore(cluster, pids, 30_000);
    stopped = [];
    await becomes(`${api}/ready`, 200, 'the API to be ready again', 30_000);
    await becomes(`${probe}/ready`, 200, 'the node to be ready again', 30_000);
    await node.waitForLog((l) => l.event === 'store-back', 30_000);

    // And it takes steps again: an order placed now completes.
    const orderId = await placeOrder('after-outage');
    await waitFor(
      async () => {
        const res = await fetch(`${api}/orders/${orderId}`).catch(() => null);
        const order = res?.ok ? ((await res.json()) as { status: string }) : undefined;
        if (order?.status === 'failed') throw new Error(`order ${orderId} failed: ${JSON.stringify(order)}`);
        return order?.status === 'completed' ? true : undefined;
      },
      30_000,
      'the order placed after the outage to complete',
    );
  }, 150_000);
});
