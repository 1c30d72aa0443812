// The chaos run's store: a local 3+3 Redis Cluster whose every node is reached through a FaultyProxy.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { readinessProblems } from '../../scripts/cluster-status.js';
import { type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import { NodeLinks } from './node-links.js';
import type { Prng } from './prng.js';
import { FaultyProxy } from './proxy.js';

const NODES = 6;
const BUS_PORT_OFFSET = 10_000;
/**
 * Node i's own loopback address, the source of every connection it opens to another node (Redis 7's
 * `bind-source-addr`; every 127.0.0.0/8 address is local on Linux, nothing to configure). Clients
 * connect from 127.0.0.1, so a proxy tells the two apart. The node still listens on 127.0.0.1 only:
 * nothing reaches it by this address, everything goes through its proxies.
 */
const nodeAddress = (i: number) => `127.0.0.${11 + i}`;

/** Current roles by real port, read from each node's own view of itself. */
export interface Roles {
  masters: number[];
  replicas: number[];
}

/** Proxies listening on ports the kernel picks, each placed in `links` as the node it will front. */
function startProxies(random: Prng, links: NodeLinks, label: string): Promise<FaultyProxy[]> {
  return Promise.all(
    Array.from({ length: NODES }, async (_, i) => {
      const proxy = new FaultyProxy(random.fork(`${label}-${i}`), { links, node: nodeAddress(i) });
      await proxy.listen();
      return proxy;
    }),
  );
}

/**
 * Starts a client proxy and a bus proxy per node, then the cluster with each node announcing both
 * ports: CLUSTER SLOTS, MOVED and ASK then name proxies, so orderflow's processes (seeded with the
 * proxies) never reach a node around them; replicas replicate through their master's proxy (network
 * faults on a master's proxy lag WAIT, as on a real network) and gossip and failover votes go through
 * the bus proxies. Only partitions act on the bus proxies: `isolate(port)` cuts a node from every
 * other one (bus and replication, both ways) while clients still reach it (docs/adr/0020).
 */
export async function startChaosCluster(dir: string, random: Prng) {
  const links = new NodeLinks(Array.from({ length: NODES }, (_, i) => nodeAddress(i)));
  // The client proxies keep their forks' labels (proxy-i): the draws of a seed's faults stay as they were.
  const proxies = await startProxies(random, links, 'proxy');
  const busProxies = await startProxies(random, links, 'bus-proxy');
  const every = [...proxies, ...busProxies];
  const byPort = new Map<number, number>();
  // Called once per node as its config is written; a start retried on other ports begins again.
  const nodeConfig = (port: number) => {
    if (byPort.size === NODES) byPort.clear();
    const i = byPort.size;
    byPort.set(port, i);
    proxies[i]!.target = port;
    busProxies[i]!.target = port + BUS_PORT_OFFSET;
    return [
      `bind-source-addr ${nodeAddress(i)}`,
      // Announced as 127.0.0.1, not learnt from the source address of the node's connections.
      'cluster-announce-ip 127.0.0.1',
      `cluster-announce-port ${proxies[i]!.port}`,
      `cluster-announce-bus-port ${busProxies[i]!.port}`,
    ];
  };
  let cluster: LocalCluster;
  try {
    cluster = await startLocalCluster({ freePorts: true, dir, nodeConfig });
  } catch (error) {
    await Promise.all(every.map((p) => p.close()));
    throw error;
  }
  const indexOf = (port: number) => byPort.get(port)!;
  const proxyOf = (port: number) => proxies[indexOf(port)]!;

  return {
    cluster,
    proxies,
    busProxies,
    proxyOf,
    /** Cuts the node at `port` from every other node, both ways; clients still reach it. */
    isolate: (port: number) => links.isolate(nodeAddress(indexOf(port))),
    /** Joins every node again. */
    healPartitions: () => links.heal(),
    get partitioned(): boolean {
      return links.partitioned;
    },
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
      await Promise.all(every.map((p) => p.close()));
    },
  };
}

export type ChaosCluster = Awaited<ReturnType<typeof startChaosCluster>>;
