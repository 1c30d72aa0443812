// One local redis-server process: its binary, config file, pid file, signals and ports.
import { spawn } from 'node:child_process';
import { constants, readFileSync } from 'node:fs';
import { access, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findFreePort, isPortFree } from './kit/ports.js';

/** The one-line answer to "why did `npm start` / `npm test` stop": what to install or point at. */
export class RedisServerNotFoundError extends Error {
  constructor(binary: string) {
    super(
      `${binary} not found on PATH: install it (apt-get install redis-server, or brew install redis) ` +
        'or set REDIS_NODES to an existing Redis Cluster or Dragonfly',
    );
    this.name = this.constructor.name;
  }
}

export interface RedisBinaries {
  server: string;
  cli: string;
}

/** Finds redis-server and redis-cli on PATH, or throws RedisServerNotFoundError. */
export async function findRedisBinaries(): Promise<RedisBinaries> {
  return { server: await findOnPath('redis-server'), cli: await findOnPath('redis-cli') };
}

async function findOnPath(binary: string): Promise<string> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new RedisServerNotFoundError(binary);
}

function nodeDir(clusterDir: string, port: number): string {
  return path.join(clusterDir, String(port));
}

const confPath = (clusterDir: string, port: number) => path.join(nodeDir(clusterDir, port), 'redis.conf');
const pidPath = (clusterDir: string, port: number) => path.join(nodeDir(clusterDir, port), 'redis.pid');
const logPath = (clusterDir: string, port: number) => path.join(nodeDir(clusterDir, port), 'redis.log');

// Redis config strings are double-quoted with C-style escapes, so paths with spaces survive.
const quote = (value: string) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

/**
 * Writes the node's redis.conf. Only directives Redis 6.0 also knows, since Ubuntu 22.04's
 * apt still ships 6.0. daemonize stays off: we spawn detached and record the pid ourselves,
 * so a failed start is seen at once instead of through a pid file that never appears.
 */
export async function writeNodeConfig(
  clusterDir: string,
  port: number,
  extraLines: readonly string[] = [],
): Promise<void> {
  const dir = nodeDir(clusterDir, port);
  await mkdir(dir, { recursive: true });
  const lines = [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode no',
    'daemonize no',
    `dir ${quote(dir)}`,
    `logfile ${quote(logPath(clusterDir, port))}`,
    'cluster-enabled yes',
    'cluster-config-file nodes.conf',
    'cluster-node-timeout 2000',
    // With `yes`, healthy shards stalled ~1 s while another shard failed over: docs/DESIGN.md#store-settings.
    'cluster-require-full-coverage no',
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    'maxmemory-policy noeviction',
    // Redis 7 defaults to a 5 s wait before a diskless full sync; replicas of a new cluster would idle through it.
    'repl-diskless-sync-delay 0',
    // A caller's own directives (the chaos run's cluster-announce-port), after ours so they win.
    ...extraLines,
  ];
  await writeFile(confPath(clusterDir, port), `${lines.join('\n')}\n`);
}

/** Spawns redis-server on the node's existing config, detached so it outlives this process. */
export async function spawnNode(serverBinary: string, clusterDir: string, port: number): Promise<number> {
  const child = spawn(serverBinary, [confPath(clusterDir, port)], {
    cwd: nodeDir(clusterDir, port),
    detached: true,
    stdio: 'ignore',
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.unref();
  const pid = child.pid!;
  await writeFile(pidPath(clusterDir, port), `${pid}\n`);
  return pid;
}

/** The pid recorded for the node, whether or not it still runs. */
export async function readPid(clusterDir: string, port: number): Promise<number | null> {
  try {
    const pid = Number.parseInt(await readFile(pidPath(clusterDir, port), 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * SIGKILLs the redis-server of `port` from its pid file, synchronously: for exit handlers, which
 * cannot await. A pid the OS has reused for another program is left alone, as in isRedisProcess.
 */
export function killNodeSync(clusterDir: string, port: number): void {
  try {
    const pid = Number.parseInt(readFileSync(pidPath(clusterDir, port), 'utf8'), 10);
    let redis: boolean;
    try {
      redis = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis');
    } catch {
      redis = process.platform !== 'linux';
    }
    if (redis) process.kill(pid, 'SIGKILL');
  } catch {}
}

/**
 * Whether pid is a live redis-server. Where /proc exists it also rejects zombies and pids
 * the OS has reused for another program since the pid file was written, so a stale pid
 * file can never make us signal a stranger.
 */
export async function isRedisProcess(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('redis');
  } catch {
    return process.platform !== 'linux';
  }
}

/**
 * Pids of redis-servers that run in a node dir under clusterDir, found through /proc: the leftovers
 * of a launcher that was killed after its pid files were removed. Every node is spawned with its own
 * dir as working directory (Redis rewrites its command line, so that cannot name the config), and
 * that dir is ours, so a process found this way was started by this launcher. Linux only; [] elsewhere.
 */
export async function findNodesInDir(clusterDir: string): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const prefix = `${path.resolve(clusterDir)}${path.sep}`;
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const cwd = (await readlink(`/proc/${pid}/cwd`)).replace(/ \(deleted\)$/, '');
      if (cwd.startsWith(prefix) && (await isRedisProcess(pid))) found.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Polls until none of pids runs; returns the ones still running at the deadline. */
export async function waitForExit(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running: number[] = [];
    for (const pid of pids) if (await isRedisProcess(pid)) running.push(pid);
    if (running.length === 0 || Date.now() >= deadline) return running;
    await sleep(50);
  }
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {}
  }
}

/** SIGTERM, then SIGKILL whatever still runs after graceMs. */
export async function terminate(pids: number[], graceMs = 5_000): Promise<void> {
  signal(pids, 'SIGTERM');
  const stubborn = await waitForExit(pids, graceMs);
  if (stubborn.length === 0) return;
  signal(stubborn, 'SIGKILL');
  await waitForExit(stubborn, 2_000);
}

const busPort = (port: number) => port + 10_000;

/** Whether count consecutive ports from base, and their cluster bus ports, are all free. */
export async function arePortsFree(base: number, count: number): Promise<boolean> {
  for (let port = base; port < base + count; port++) {
    if (!(await isPortFree(port)) || !(await isPortFree(busPort(port)))) return false;
  }
  return true;
}

// Above 17999 so we never take the bus ports of a dev cluster at 7000-7999; below 22768 so our
// own bus ports (port + 10000) stay under Linux's ephemeral range (32768+), where outgoing
// connections could grab them between our probe and redis-server's bind.
const FREE_RANGE = { from: 18_000, to: 22_700 };

/** A base port where count consecutive ports and their bus ports are free; random start so parallel runs spread out. */
export function findFreeBasePort(count: number): Promise<number> {
  return findFreePort({ ...FREE_RANGE, count, alsoFree: busPort, random: true });
}
