// A local Redis Cluster of 3 masters + 3 replicas run from redis-server on PATH: start or reuse, inspect, stop.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ClusterStatus, readClusterStatus, readinessProblems } from './cluster-status.js';
import {
  arePortsFree,
  findFreeBasePort,
  findNodesInDir,
  findRedisBinaries,
  isRedisProcess,
  killNodeSync,
  readPid,
  spawnNode,
  terminate,
  waitForExit,
  writeNodeConfig,
} from './redis-process.js';

export type { ClusterStatus, NodeStatus } from './cluster-status.js';
export { RedisServerNotFoundError } from './redis-process.js';

export type ClusterLog = (msg: string, fields?: object) => void;

export interface LocalClusterOptions {
  basePort?: number;
  /** Root that holds `cluster-<basePort>/<port>/`; default `.data/` at the repo root. */
  dir?: string;
  /** Pick a base where all 6 ports and their bus ports are free, so parallel runs never collide. */
  freePorts?: boolean;
  log?: ClusterLog;
  /** Aborting stops whatever this call started and rejects. */
  signal?: AbortSignal;
  /**
   * When a cluster already runs there but does not become ready, stop it and start afresh instead
   * of failing: for a launcher adopting its own leftovers, never for a cluster someone else runs.
   */
  replaceUnhealthy?: boolean;
  /** Extra redis.conf lines of a new node (say, `cluster-announce-port`); none by default. */
  nodeConfig?: (port: number) => string[];
}

export interface LocalCluster {
  ports: number[];
  /** `127.0.0.1:p1,127.0.0.1:p2,...`, the value for REDIS_NODES. */
  seeds: string;
  /** This cluster's own dir (`<root>/cluster-<basePort>`). */
  dir: string;
  /** Pids of the nodes running now, from their pid files. */
  pids(): Promise<number[]>;
  status(): Promise<ClusterStatus>;
  stop(): Promise<void>;
  /** SIGKILLs every node from its pid file, synchronously: for an exit handler, when stop() cannot run. */
  killSync(): void;
  killNode(port: number, signal?: NodeJS.Signals): Promise<void>;
  startNode(port: number): Promise<void>;
  /**
   * Starts the killed node at `port` once its slots are served by another node (its replica took
   * over), so it rejoins as a replica, as a restart policy would bring it back. Started before
   * the promotion, it would come back as master without the last writes its AOF had not synced.
   */
  rejoinWhenReplaced(port: number, timeoutMs?: number): Promise<void>;
}

export class LocalClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

const NODE_COUNT = 6;
const DEFAULT_BASE_PORT = 7000;
const READY_TIMEOUT_MS = 30_000;
const ANSWER_TIMEOUT_MS = 10_000;
const noop: ClusterLog = () => {};
const run = promisify(execFile);

/** `.data/` at the repo root, where local clusters keep their dirs by default. */
export const DEFAULT_DATA_ROOT = fileURLToPath(new URL('../.data/', import.meta.url));

/** Ports and dir of the cluster at basePort under the root dir, for attachLocalCluster. */
export function localClusterPaths(opts: { basePort?: number; dir?: string } = {}): {
  ports: number[];
  dir: string;
} {
  const basePort = opts.basePort ?? DEFAULT_BASE_PORT;
  return {
    ports: Array.from({ length: NODE_COUNT }, (_, i) => basePort + i),
    dir: path.join(path.resolve(opts.dir ?? DEFAULT_DATA_ROOT), `cluster-${basePort}`),
  };
}

/** A handle on the cluster whose nodes live under dir, whether or not it runs; nothing is started. */
export function attachLocalCluster(opts: { ports: number[]; dir: string; log?: ClusterLog }): LocalCluster {
  const { ports, dir } = opts;
  const log = opts.log ?? noop;
  const livePid = async (port: number) => {
    const pid = await readPid(dir, port);
    return pid !== null && (await isRedisProcess(pid)) ? pid : null;
  };
  const pids = async () => (await Promise.all(ports.map(livePid))).filter((pid) => pid !== null);
  const cluster: LocalCluster = {
    ports,
    seeds: ports.map((port) => `127.0.0.1:${port}`).join(','),
    dir,
    pids,
    status: () => readClusterStatus(ports, livePid),
    async stop() {
      const running = await pids();
      await terminate(running);
      await rm(dir, { recursive: true, force: true });
      log('redis cluster stopped', { ports, pids: running, dir });
    },
    killSync() {
      for (const port of ports) killNodeSync(dir, port);
    },
    async killNode(port, signal = 'SIGKILL') {
      const pid = await livePid(port);
      if (pid === null) throw new LocalClusterError(`no redis-server runs for port ${port}`);
      process.kill(pid, signal);
      // A stopped or continued process does not exit; SIGTERM may wait for replicas to catch up.
      if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') return;
      const left = await waitForExit([pid], signal === 'SIGKILL' ? 5_000 : 15_000);
      if (left.length > 0)
        throw new LocalClusterError(`redis-server ${pid} (port ${port}) ignored ${signal}`);
      log('redis node killed', { port, pid, signal });
    },
    async startNode(port) {
      if ((await livePid(port)) !== null) return;
      const { server } = await findRedisBinaries();
      const pid = await spawnNode(server, dir, port);
      await waitAnswering(cluster, [port]);
      log('redis node started', { port, pid });
    },
    async rejoinWhenReplaced(port, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while ((await cluster.status()).nodes.some((n) => n.port === port && n.slots.length > 0)) {
        if (Date.now() > deadline)
          throw new LocalClusterError(`no replica took over the slots of :${port} in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      await cluster.startNode(port);
    },
  };
  return cluster;
}

/**
 * Starts the cluster, or reuses the one already running at that base port, and resolves
 * once every slot is served and every replica is synced. Stale data of a dead cluster is
 * wiped first, and redis-servers still running in its dir without pid files are stopped.
 * `reused` tells whether a running cluster was taken over. Throws RedisServerNotFoundError
 * when redis-server is not on PATH.
 */
export async function startLocalCluster(
  opts: LocalClusterOptions = {},
): Promise<LocalCluster & { reused: boolean }> {
  const log = opts.log ?? noop;
  const binaries = await findRedisBinaries();
  for (let attempt = 1; ; attempt++) {
    const basePort = opts.freePorts ? await findFreeBasePort(NODE_COUNT) : opts.basePort;
    const cluster = attachLocalCluster({ ...localClusterPaths({ basePort, dir: opts.dir }), log });
    try {
      return await bringUp(cluster, binaries, log, opts.signal, opts.nodeConfig);
    } catch (err) {
      if (err instanceof ReuseFailedError && opts.replaceUnhealthy && attempt < 3) {
        log('running redis cluster is not healthy; stopping it and starting afresh', { error: err.message });
        await cluster.stop();
        continue;
      }
      // Another process may bind a probed port before redis-server does; try elsewhere.
      if (!(opts.freePorts && err instanceof NodeExitedError && attempt < 3)) throw err;
      log('redis node exited at start, retrying on other ports', { error: err.message });
    }
  }
}

/** Stops the cluster at basePort under dir by the pids in its pid files and removes its dir. */
export async function stopLocalCluster(
  opts: { basePort?: number; dir?: string; log?: ClusterLog } = {},
): Promise<void> {
  const { dir } = localClusterPaths(opts);
  const entries = await readdir(dir).catch(() => []);
  const ports = entries.filter((name) => /^\d+$/.test(name)).map(Number);
  await attachLocalCluster({ ports, dir, log: opts.log }).stop();
}

class NodeExitedError extends LocalClusterError {}
/** A cluster found running did not become ready; its nodes are left as they were. */
class ReuseFailedError extends LocalClusterError {}

async function bringUp(
  cluster: LocalCluster,
  binaries: { server: string; cli: string },
  log: ClusterLog,
  signal: AbortSignal | undefined,
  nodeConfig: (port: number) => string[] = () => [],
): Promise<LocalCluster & { reused: boolean }> {
  const started = performance.now();
  const alive = new Set<number>();
  for (const port of cluster.ports) {
    const pid = await readPid(cluster.dir, port);
    if (pid !== null && (await isRedisProcess(pid))) alive.add(port);
  }
  const fresh = alive.size === 0;
  const restarted = cluster.ports.filter((p) => !alive.has(p));
  if (fresh) {
    const strays = await findNodesInDir(cluster.dir);
    if (strays.length > 0) {
      // A launcher killed mid-stop leaves nodes whose pid files are gone: ours, by their dir.
      log('stopping redis nodes left running without pid files', { dir: cluster.dir, pids: strays });
      await terminate(strays);
    }
    if (existsSync(cluster.dir)) log('wiping stale redis cluster dir', { dir: cluster.dir });
    await rm(cluster.dir, { recursive: true, force: true });
    if (!(await arePortsFree(cluster.ports[0]!, NODE_COUNT))) {
      const [first, last] = [cluster.ports[0], cluster.ports.at(-1)];
      throw new LocalClusterError(
        `ports ${first}-${last} or their bus ports (+10000) are in use: choose another --port`,
      );
    }
  }
  try {
    if (fresh) {
      for (const port of cluster.ports) {
        await writeNodeConfig(cluster.dir, port, nodeConfig(port));
        await spawnNode(binaries.server, cluster.dir, port);
      }
      await waitAnswering(cluster, cluster.ports, signal);
      await createCluster(binaries.cli, cluster.ports, signal);
    } else {
      log('reusing running redis cluster', { seeds: cluster.seeds, restarting: restarted });
      for (const port of restarted) await cluster.startNode(port);
      // Nodes that run but never joined (an `up` killed between spawn and create) still need creating.
      const status = await cluster.status();
      if (status.nodes.every((n) => n.answering && n.slotsAssigned === 0)) {
        await createCluster(binaries.cli, cluster.ports, signal);
      }
    }
    await waitReady(cluster, signal);
  } catch (err) {
    if (fresh) await cluster.stop();
    else for (const port of restarted) await cluster.killNode(port, 'SIGTERM').catch(() => {});
    if (!fresh && err instanceof LocalClusterError && !signal?.aborted) {
      throw new ReuseFailedError(err.message);
    }
    throw err;
  }
  log('redis cluster ready', {
    seeds: cluster.seeds,
    reused: !fresh,
    ms: Math.round(performance.now() - started),
  });
  return { ...cluster, reused: !fresh };
}

async function createCluster(cli: string, ports: number[], signal: AbortSignal | undefined): Promise<void> {
  const args = ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1'];
  try {
    await run(cli, [...args, '--cluster-yes'], { signal, timeout: READY_TIMEOUT_MS });
  } catch (err) {
    signal?.throwIfAborted();
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    const last = `${stdout}\n${stderr}`.trim().split('\n').at(-1);
    throw new LocalClusterError(`redis-cli --cluster create failed: ${last}`);
  }
}

async function waitAnswering(cluster: LocalCluster, ports: number[], signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + ANSWER_TIMEOUT_MS;
  for (;;) {
    const { nodes } = await cluster.status();
    const mine = nodes.filter((n) => ports.includes(n.port));
    const dead = mine.find((n) => n.pid === null);
    if (dead)
      throw new NodeExitedError(
        `redis-server on port ${dead.port} exited; see ${cluster.dir}/${dead.port}/redis.log`,
      );
    if (mine.every((n) => n.answering)) return;
    if (Date.now() > deadline)
      throw new LocalClusterError(`redis-server on ports ${ports.join(',')} did not answer`);
    await sleep(50, undefined, { signal });
  }
}

async function waitReady(cluster: LocalCluster, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const problems = readinessProblems(await cluster.status());
    if (problems.length === 0) return;
    if (Date.now() > deadline) {
      throw new LocalClusterError(
        `redis cluster ${cluster.seeds} not ready after ${READY_TIMEOUT_MS / 1000} s: ${problems.slice(0, 3).join('; ')}`,
      );
    }
    await sleep(200, undefined, { signal });
  }
}
