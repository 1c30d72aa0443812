// The chaos run's store: a local 3+3 Redis Cluster whose every node is reached through a FaultyProxy.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { readinessProblems } from '../../scripts/cluster-status.js';
import { type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import type { Prng } from './prng.js';
import { FaultyProxy } from './proxy.js';

const NODES = 6;
const BUS_PORT_OFFSET = 10_000;

/** Current roles by real port, read from each node's own view of itself. */
export interface Roles {
  masters: number[];
  replicas: number[];
}

/**
 * Starts six proxies, then the cluster with each node announcing its proxy's port: CLUSTER SLOTS,
 * MOVED and ASK then name proxies, so orderflow's processes (seeded with the proxies) never reach a
 * node around them, and replicas replicate through their master's proxy too (network faults on a
 * master's proxy lag WAIT, as on a real network). The cluster bus keeps its real port: gossip and
 * failover votes are not faulted (that would be a partition, out of scope here).
 */
export async function startChaosCluster(dir: string, random: Prng) {
  const proxies = await Promise.all(
    Array.from({ length: NODES }, async (_, i) => {
      const proxy = new FaultyProxy(random.fork(`proxy-${i}`));
      await proxy.listen();
      return proxy;
    }),
  );
  const byPort = new Map<number, FaultyProxy>();
  // Called once per node as its config is written; a start retried on other ports begins again.
  const nodeConfig = (port: number) => {
    if (byPort.size === NODES) byPort.clear();
    const proxy = proxies[byPort.size]!;
    proxy.target = port;
    byPort.set(port, proxy);
    return [`cluster-announce-port ${proxy.port}`, `cluster-announce-bus-port ${port + BUS_PORT_OFFSET}`];
  };
  let cluster: LocalCluster;
  try {
    cluster = await startLocalCluster({ freePorts: true, dir, nodeConfig });
  } catch (error) {
    await Promise.all(proxies.map((p) => p.close()));
    throw error;
  }
  const proxyOf = (port: number) => byPort.get(port)!;

  return {
    cluster,
    proxies,
    proxyOf,
    /** REDIS_NODES for orderflow's processes: the proxies. */
    seeds: cluster.ports.map((port) => `127.0.0.1:${proxyOf(port).port}`).join(','),
    /** An ioredis natMap from announced (proxy) addresses to the real ones, for direct readers. */
    natMap: Object.fromEntries(
      cluster.ports.map((port) => [`127.0.0.1:${proxyOf(port).port}`, { host: '127.0.0.1', port }]),
    ),
    async roles(): Promise<Roles> {
      const { nodes } = await cluster.status();
      return {
        masters: nodes.filter((n) => n.role === 'master' && n.slots.length > 0).map((n) => n.port),
        replicas: nodes.filter((n) => n.role === 'replica' && n.answering).map((n) => n.port),
      };
    },
    /** What keeps the cluster from full health (every slot served, every replica linked); [] when healthy. */
    async problems(): Promise<string[]> {
      return readinessProblems(await cluster.status());
    },
    /** Copies each node's redis.log to `<dir>/redis-<port>.log`: stop() removes the cluster's dir. */
    async copyLogs(dir: string): Promise<void> {
      await Promise.all(
        cluster.ports.map((port) =>
          copyFile(
            path.join(cluster.dir, String(port), 'redis.log'),
            path.join(dir, `redis-${port}.log`),
          ).catch(() => undefined),
        ),
      );
    },
    /** Stops the nodes (removing their dir), then the proxies. */
    async stop(): Promise<void> {
      await cluster.stop().catch(() => cluster.killSync());
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}

export type ChaosCluster = Awaited<ReturnType<typeof startChaosCluster>>;
