// Reads have a deadline: while the store does not answer, every route that reads it answers 503 with
// Retry-After within READ_DEADLINE_MS instead of hanging, and 200 once it is back. GET /stats never writes.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_ROOT, type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import { MAX_OVERDUE_READS, READ_DEADLINE_MS } from '../../server/read-deadline.js';
import { resumeStore, signalAll } from '../support/cluster.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

/** Scheduling slack on two shared cores; far below the forever a read waited before. */
const MARGIN_MS = 1000;

interface Timed {
  route: string;
  status: number | 'no answer';
  ms: number;
  res?: Response;
}

/** GET `route`, giving up (as 'no answer') after `limitMs`, so a hang fails the test rather than its timeout. */
async function timedGet(app: TestSystem['app'], route: string, limitMs: number): Promise<Timed> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), limitMs);
  });
  const res = await Promise.race([app.request(route), gaveUp]).finally(() => clearTimeout(timer));
  const ms = Math.round(performance.now() - started);
  return res ? { route, status: res.status, ms, res } : { route, status: 'no answer', ms };
}

describe('when the store stops answering', () => {
  let cluster: LocalCluster;
  let system: TestSystem;
  let stopped: number[] = [];
  let routes: string[] = [];
  const clusterRoot = path.join(DEFAULT_DATA_ROOT, `x-reads-${process.pid}`);

  beforeAll(async () => {
    cluster = await startLocalCluster({ freePorts: true, dir: clusterRoot });
    system = createTestSystem({ REDIS_NODES: cluster.seeds });
    const placed = await system.place({ user_id: 'deadline-user' });
    expect(placed.status).toBe(202);
    routes = [
      `/orders/${placed.body.order_id}`,
      '/orders?user_id=deadline-user',
      '/stats',
      '/stats/history',
      '/shards',
      '/nodes',
      '/metrics',
    ];
    for (const route of routes) expect((await system.app.request(route)).status, route).toBe(200);
    stopped = await cluster.pids();
    expect(stopped).toHaveLength(cluster.ports.length);
    signalAll(stopped, 'SIGSTOP');
  }, 120_000);

  afterAll(async () => {
    signalAll(stopped, 'SIGCONT');
    await system?.close().catch(() => undefined);
    await cluster?.stop();
    await rm(clusterRoot, { recursive: true, force: true });
  }, 60_000);

  /** Commands the client sent to the stopped nodes and still waits on, over every node connection. */
  function commandsAwaitingReply(): number {
    const cluster = system.store as Cluster;
    return cluster.nodes().reduce((total, node) => total + node.commandQueue.length, 0);
  }

  it('answers every store read with 503 problem+json and Retry-After within the deadline', async () => {
    const answers = await Promise.all(
      routes.map((route) => timedGet(system.app, route, READ_DEADLINE_MS + MARGIN_MS)),
    );
    for (const { route, status, ms, res } of answers) {
      expect({ route, status }).toEqual({ route, status: 503 });
      expect(ms, route).toBeLessThan(READ_DEADLINE_MS + MARGIN_MS);
      expect(res!.headers.get('content-type'), route).toBe('application/problem+json');
      expect(Number(res!.headers.get('retry-after')), route).toBeGreaterThanOrEqual(1);
      expect(await res!.json()).toMatchObject({ status: 503, title: 'Service Unavailable' });
    }
  });

  it('refuses further reads at once, asking the store nothing, while too many are overdue', async () => {
    const queued = commandsAwaitingReply();
    // Each of these waits out its deadline and stays queued in the client until the store answers.
    const overdue = await Promise.all(
      Array.from({ length: MAX_OVERDUE_READS }, () =>
        timedGet(system.app, '/nodes', READ_DEADLINE_MS + MARGIN_MS),
      ),
    );
    expect(overdue.every((a) => a.status === 503)).toBe(true);
    const piledUp = commandsAwaitingReply();
    expect(piledUp).toBeGreaterThanOrEqual(queued + MAX_OVERDUE_READS);

    const next = await timedGet(system.app, '/stats', READ_DEADLINE_MS + MARGIN_MS);
    expect(next.status).toBe(503);
    expect(next.ms).toBeLessThan(250);
    expect(next.res!.headers.get('retry-after')).not.toBeNull();
    expect(commandsAwaitingReply()).toBe(piledUp);
  });

  it('answers 200 on every route again once the store is back', async () => {
    // The nodes may fail a master over on waking (a ping sent before the stop looks overdue).
    await resumeStore(cluster, stopped, 30_000);
    stopped = [];
    for (const route of routes) {
      await waitFor(
        async () => ((await system.app.request(route)).status === 200 ? true : undefined),
        30_000,
        `${route} to answer 200 again`,
      );
    }
  }, 90_000);
});

/** A test system with its own activity flush interval: its Operations are at hand as `ops`. */
const wireApi = (flushEveryMs: number) => createTestSystem({}, { opsFlushEveryMs: flushEveryMs });

describe('GET /stats', () => {
  it('writes nothing to the store, not even counts this process has not flushed yet', async () => {
    const api = wireApi(600_000); // no periodic flush during this test
    try {
      api.ops.activity.add('orders_placed'); // a placement counted, its flush not yet sent
      for (const route of ['/stats', '/stats/history']) {
        expect((await api.app.request(route)).status).toBe(200);
        expect((await api.ops.activity.totals()).orders_placed, route).toBe(0);
      }
    } finally {
      await api.close();
    }
  });

  it("still reports this process's placements: a periodic task writes them", async () => {
    const api = wireApi(200);
    try {
      api.ops.activity.add('orders_placed');
      api.ops.activity.add('orders_placed');
      await waitFor(
        async () => {
          const stats = (await (await api.app.request('/stats')).json()) as { orders: { placed: number } };
          return stats.orders.placed === 2 ? true : undefined;
        },
        5000,
        '/stats to count the two placements',
      );
    } finally {
      await api.close();
    }
  });
});
