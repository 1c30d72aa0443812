// A benchmark's own system: a dedicated local cluster on free ports, and API / worker / baseline processes.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { findFreePort } from '../../scripts/kit/ports.js';
import { REPO_ROOT } from '../../scripts/kit/spawn.js';
import { GaveUpWaiting, waitUntil } from '../../scripts/kit/wait.js';
import { type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import { loadConfig } from '../../shared/config.js';
import { createKeyspace, type Keyspace } from '../../shared/keys.js';
import { createNodeRegistry } from '../../shared/node-registry.js';
import { createStore, type Store, waitForStore } from '../../shared/store.js';
import { type BenchProcess, createProcessGroup } from './processes.js';
import type { ScenarioContext } from './scenario.js';

export type BenchLog = (message: string) => void;

/** Where benchmarks keep their clusters' data (removed after each) and their processes' logs. */
export const BENCH_DATA_ROOT = path.join(REPO_ROOT, '.data', 'bench');

/** Where the bench's APIs listen: above a dev API's 3000, the first free one. */
const API_PORTS = { from: 3401, to: 3901 };

/** A spawned API and the URL it answers on. */
export interface BenchApi {
  url: string;
  process: BenchProcess;
}

/** Which scenario a system is for (it names the log folder), and the run's log and flags. */
export type BenchSystemOptions = { scenario: string } & Pick<ScenarioContext, 'log' | 'flags'>;

/**
 * Runs `fn` with a system of its own (see startBenchSystem) and closes that system afterwards,
 * whether `fn` returned or threw: a scenario never leaves a process or a cluster behind.
 */
export async function withBenchSystem<T>(
  options: BenchSystemOptions,
  fn: (system: BenchSystem) => Promise<T>,
): Promise<T> {
  const system = await startBenchSystem(options);
  try {
    return await fn(system);
  } finally {
    await system.close();
  }
}

/**
 * Starts a dedicated local cluster (free ports, its own data dir) and returns the handles a
 * scenario needs; `close()` stops every process it started, then the cluster.
 */
async function startBenchSystem({ scenario, log, flags }: BenchSystemOptions) {
  const started = Date.now();
  // Each cluster's dir is `clusters/cluster-<base port>`, unique while it runs, removed by stop().
  const cluster: LocalCluster = await startLocalCluster({
    freePorts: true,
    dir: path.join(BENCH_DATA_ROOT, 'clusters'),
  });
  log(`cluster ${cluster.seeds.split(',')[0]}… ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // A bench stopped by Ctrl-C must not leave six redis-servers behind.
  const killOnExit = () => {
    cluster.killSync();
    rmSync(cluster.dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  const baseEnv = { REDIS_NODES: cluster.seeds, LOG_LEVEL: flags.logLevel };
  const config = loadConfig({ REDIS_NODES: cluster.seeds });
  const store: Store = createStore(config, { connectionName: 'orderflow-bench' });
  await waitForStore(store);
  // The logs of the last run of each scenario stay for a look after the fact; the cluster's data does not.
  const logDir = path.join(BENCH_DATA_ROOT, 'logs', scenario);
  rmSync(logDir, { recursive: true, force: true });
  const processes = createProcessGroup(logDir, { cpuProfDir: flags.cpuProfDir });
  let serial = 0;

  /** A fresh key namespace: each measurement starts from empty queues and records. */
  const namespace = (label: string) => `b${label.slice(0, 8)}${randomBytes(3).toString('hex')}`;

  async function waitReady(url: string, child: BenchProcess, timeoutMs = 60_000): Promise<void> {
    await waitUntil(
      `${child.name} to answer at ${url} (log: ${child.logFile})`,
      async () => {
        if (!child.running) throw new GaveUpWaiting(`${child.name} exited; see ${child.logFile}`);
        const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        return res.ok;
      },
      timeoutMs,
    );
  }

  return {
    cluster,
    store,
    processes,
    namespace,
    keyspace: (ns: string): Keyspace => createKeyspace(config.SHARDS, ns),

    /** `server/main.ts` on a free port ≥ 3401, under namespace `ns`, with `env` on top. */
    async startApi(ns: string, env: Record<string, string> = {}): Promise<BenchApi> {
      const port = await findFreePort(API_PORTS);
      const child = processes.spawnTsx(`api-${++serial}-${ns}`, 'server/main.ts', {
        ...baseEnv,
        KEY_NAMESPACE: ns,
        PORT: String(port),
        ...env,
      });
      const url = `http://127.0.0.1:${port}`;
      await waitReady(url, child);
      return { url, process: child };
    },

    /** The bare Hono + FlowProducer endpoint of stress/baselines/, on a free port ≥ 3401. */
    async startBareFlowServer(ns: string): Promise<BenchApi> {
      const port = await findFreePort(API_PORTS);
      const child = processes.spawnTsx(
        `bare-flow-${++serial}-${ns}`,
        'stress/baselines/bare-flow-server.ts',
        {
          ...baseEnv,
          KEY_NAMESPACE: ns,
          PORT: String(port),
        },
      );
      const url = `http://127.0.0.1:${port}`;
      await waitReady(url, child);
      return { url, process: child };
    },

    /**
     * Starts `count` processes of `entry` (worker nodes, or the raw BullMQ baseline) under `ns`, named
     * `<prefix>-<i>`, and resolves once every one of them heartbeats in the node registry.
     */
    async startNodes(
      ns: string,
      count: number,
      env: Record<string, string> = {},
      { prefix = 'node', entry = flags.workerEntry }: { prefix?: string; entry?: string } = {},
    ): Promise<BenchProcess[]> {
      const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
      const children = ids.map((id) =>
        processes.spawnTsx(`${id}-${ns}`, entry, { ...baseEnv, KEY_NAMESPACE: ns, NODE_ID: id, ...env }),
      );
      const registry = createNodeRegistry(store, ns);
      await waitUntil(
        `${count} × ${entry} to register (logs: ${children[0]?.logFile})`,
        async () => {
          const dead = children.find((c) => !c.running);
          if (dead) throw new GaveUpWaiting(`${dead.name} exited; see ${dead.logFile}`);
          const live = new Set((await registry.list()).map((n) => n.id));
          return ids.every((id) => live.has(id));
        },
        30_000 + 5_000 * count,
        { everyMs: 250 },
      );
      return children;
    },

    /** Stops every process this system started, then the cluster; keeps going when a step fails. */
    async close(): Promise<void> {
      await processes.stopAll().catch((error) => log(`stopping processes: ${String(error)}`));
      await store.quit().catch(() => undefined);
      await cluster.stop().catch((error) => log(`stopping the cluster: ${String(error)}`));
      process.off('exit', killOnExit);
    },
  };
}

export type BenchSystem = Awaited<ReturnType<typeof startBenchSystem>>;
