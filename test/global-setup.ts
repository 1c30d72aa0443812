// Vitest global setup: one local Redis Cluster for the whole run, unless REDIS_NODES already names one.
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { DEFAULT_DATA_ROOT, RedisServerNotFoundError, startLocalCluster } from '../scripts/local-cluster.js';

/** Starts the cluster on free ports and hands its seeds to every test file; the returned teardown stops it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.REDIS_NODES;
  if (external) {
    project.provide('redisNodes', external);
    project.provide('clusterPorts', []);
    project.provide('clusterDir', null);
    return async () => {};
  }
  const root = path.join(DEFAULT_DATA_ROOT, `test-${process.pid}`);
  const cluster = await startLocalCluster({ freePorts: true, dir: root }).catch((err: unknown) => {
    // The contract promises one clear line; thrown, it drowns in vitest's error frame and a
    // misleading "No test files found", so say it and stop the run here.
    if (!(err instanceof RedisServerNotFoundError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
  // Test forks are spawned after this runs and inherit the env, so code that reads its config
  // from REDIS_NODES finds the cluster too; inject('redisNodes') is the typed way.
  process.env.REDIS_NODES = cluster.seeds;
  project.provide('redisNodes', cluster.seeds);
  project.provide('clusterPorts', cluster.ports);
  project.provide('clusterDir', cluster.dir);

  // If vitest exits without running the teardown, do not leave six redis-servers behind. The pid
  // files are read at exit, not now, because a failover test may have restarted a node since.
  const killOnExit = () => {
    cluster.killSync();
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  return async function teardown() {
    process.off('exit', killOnExit);
    delete process.env.REDIS_NODES;
    await cluster.stop();
    await rm(root, { recursive: true, force: true });
  };
}
