// How a test file reaches the Redis Cluster the global setup started (or the one REDIS_NODES named).
import { inject } from 'vitest';
import { readinessProblems } from '../../scripts/cluster-status.js';
import { waitUntil } from '../../scripts/kit/wait.js';
import { attachLocalCluster, type LocalCluster } from '../../scripts/local-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Comma-separated `host:port` seeds, the value of REDIS_NODES. */
    redisNodes: string;
    /** Ports of the local cluster the setup started; empty when REDIS_NODES pointed elsewhere. */
    clusterPorts: number[];
    /** That cluster's dir; null when REDIS_NODES pointed elsewhere. */
    clusterDir: string | null;
  }
}

/** The seeds of the cluster under test, e.g. `127.0.0.1:17000,127.0.0.1:17001,...`. */
export function redisNodes(): string {
  return inject('redisNodes');
}

/** The seeds as ioredis `Cluster` start nodes. */
export function redisSeeds(): Array<{ host: string; port: number }> {
  return redisNodes()
    .split(',')
    .map((seed) => {
      const at = seed.lastIndexOf(':');
      return { host: seed.slice(0, at), port: Number(seed.slice(at + 1)) };
    });
}

/** Whether the tests run against a local cluster this run started, so nodes can be killed and restarted. */
export function isLocalCluster(): boolean {
  return inject('clusterDir') !== null;
}

/** A handle on the local test cluster for failover tests (killNode / startNode / status). */
export function localTestCluster(): LocalCluster {
  const dir = inject('clusterDir');
  if (dir === null)
    throw new Error('REDIS_NODES points at an external cluster; failover tests need the local one');
  return attachLocalCluster({ ports: inject('clusterPorts'), dir });
}

/**
 * Sends `signal` to every pid in one synchronous loop, so store nodes stop (or resume) within
 * microseconds of each other: stopped one by one with cluster-node-timeout 2000, the nodes still
 * running would see the stopped ones silent for seconds and could fail them over.
 */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already; the cluster's stop() deals with it
    }
  }
}

/**
 * Resumes a store whose nodes `pids` were stopped (SIGCONT to all at once, see signalAll) and waits
 * until it serves every slot again. The nodes may fail a master over on waking (a ping sent before
 * the stop looks seconds overdue), so no master is expected where it was, only a cluster that is
 * ready: every slot served, 3 masters with synced replicas.
 */
export async function resumeStore(cluster: LocalCluster, pids: number[], timeoutMs = 60_000): Promise<void> {
  signalAll(pids, 'SIGCONT');
  await waitUntil(
    'the cluster to serve every slot again',
    async () => readinessProblems(await cluster.status()).length === 0,
    timeoutMs,
    { everyMs: 25, retryErrors: false },
  );
}
