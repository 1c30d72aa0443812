// The chaos run's partition really isolates: a master cut by its proxies loses its replica and the
// majority, which promotes the replica; healed, the old master rejoins as a replica and drops the
// write it took alone. Its own proxied cluster of six redis-servers, no orderflow process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../scripts/cluster-status.js';
import { type ChaosCluster, startChaosCluster } from '../../stress/chaos/chaos-cluster.js';
import { createPrng } from '../../stress/chaos/prng.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'chaos-partition-'));
let store: ChaosCluster;
const connections: Redis[] = [];

beforeAll(async () => {
  store = await startChaosCluster(scratch, createPrng('partition-test'));
}, 120_000);

afterAll(async () => {
  for (const c of connections) c.disconnect();
  await store?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** A plain connection (no cluster client, so no redirection) to `port`. */
function connect(port: number): Redis {
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, enableReadyCheck: false });
  redis.on('error', () => {});
  connections.push(redis);
  return redis;
}

/** Polls the cluster's status until `done` holds; fails with the last status after `timeoutMs`. */
async function until(what: string, done: (nodes: NodeStatus[]) => boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { nodes } = await store.cluster.status();
    if (done(nodes)) return nodes;
    if (Date.now() > deadline)
      throw new Error(`${what} not within ${timeoutMs} ms: ${JSON.stringify(nodes)}`);
    await sleep(250);
  }
}

/** A key of the slot range `[from, to]`, found by asking the node for slots. */
async function keyIn(redis: Redis, [from, to]: [number, number]): Promise<string> {
  for (let i = 0; ; i++) {
    const key = `partition-probe-${i}`;
    const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
    if (slot >= from && slot <= to) return key;
  }
}

describe('when a master is isolated from every other store node', () => {
  it('loses its replica and the majority, whose failover it joins as a replica once healed', async () => {
    const before = await until(
      'a healthy cluster',
      (nodes) => nodes.filter((n) => n.masterLinkUp).length === 3,
    );
    const master = before.find((n) => n.role === 'master' && n.slots.length > 0)!;
    // Nodes name each other by the addresses they announce: their proxies'.
    const announced = (port: number) => store.proxyOf(port).port;
    const replica = before.find((n) => n.role === 'replica' && n.masterPort === announced(master.port))!;
    // A client of the isolated side: through the master's proxy, as orderflow reaches it.
    const client = connect(store.proxyOf(master.port).port);
    const key = await keyIn(client, master.slots[0]!);

    store.isolate(master.port);
    // At once, the master still takes the write, but no replica acknowledges it: WAIT says 0.
    expect(await client.set(key, 'taken-alone')).toBe('OK');
    expect(await client.call('WAIT', 1, 1000)).toBe(0);

    // The master sees itself in the minority; the majority marks it failing and promotes its replica.
    await until('the isolated master in cluster_state:fail', (nodes) =>
      nodes.some((n) => n.port === master.port && n.clusterState === 'fail'),
    );
    await expect(client.set(key, 'refused')).rejects.toThrow(/CLUSTERDOWN/);
    await until('the replica promoted', (nodes) =>
      nodes.some((n) => n.port === replica.port && n.role === 'master' && n.slots.length > 0),
    );
    const majority = before.find((n) => n.role === 'master' && n.port !== master.port)!;
    const view = String(await connect(majority.port).call('CLUSTER', 'NODES'));
    expect(view.split('\n').find((l) => l.startsWith(master.id!))).toMatch(/\bfail\b/);
    expect(
      store.proxyOf(master.port).counts.cut + store.busProxies.reduce((n, p) => n + p.counts.cut, 0),
    ).toBeGreaterThan(0);

    store.healPartitions();
    await until('the old master back as the new one’s replica', (nodes) =>
      nodes.some(
        (n) =>
          n.port === master.port &&
          n.role === 'replica' &&
          n.masterPort === announced(replica.port) &&
          n.masterLinkUp === true,
      ),
    );
    // What it took alone is gone: the write WAIT did not confirm was never the cluster's.
    expect(await connect(replica.port).get(key)).toBeNull();
    expect(await store.problems()).toEqual([]);
  }, 150_000);
});
