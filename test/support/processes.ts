// Real orderflow processes for fault-tolerance tests: spawned by pid, signalled by pid, logs captured.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLogLine, readLines } from '../../scripts/kit/lines.js';
import { findFreePort } from '../../scripts/kit/ports.js';
import { spawnTsx } from '../../scripts/kit/spawn.js';
import type { Config } from '../../shared/config.js';

/**
 * The only variables a child takes from this process: what node and tsx need to run. PATH for
 * anything they look up, HOME, and TMPDIR because tsx keeps its compile cache under the temp dir
 * (a child that looked elsewhere would compile everything cold). Nothing that configures orderflow
 * (a developer's STEP_FAILURE_RATE, LOCK_MS or WAIT_REPLICAS, the REDIS_NODES the global setup
 * exports for the forks) and no NODE_OPTIONS (vitest's, a debugger's) reaches a child unasked.
 */
const INHERITED = ['PATH', 'HOME', 'TMPDIR'] as const;

/** The inherited basics of every child's environment, without anything that configures orderflow. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return env;
}

/** What every service is told explicitly: which store, and which namespace in it. */
export type ServiceEnv = { REDIS_NODES: string; KEY_NAMESPACE: string } & Record<string, string>;

export interface LogLine {
  level: string;
  event?: string;
  [field: string]: unknown;
}

export interface ServiceProcess {
  name: string;
  pid: number;
  logs: LogLine[];
  /** Resolves once the process exited and its output was read: the exit code (null when killed by a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal(signal: NodeJS.Signals): void;
  /** Resolves with the first log line matching `match`, now or later; rejects if the process ends first. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** The last few thousand characters the process wrote to stderr. */
  stderr(): string;
}

/** Starts `server/main.ts` or `workers/main.ts` with `baseEnv()` and `env` only. */
export function spawnService(
  name: string,
  entry: 'server/main.ts' | 'workers/main.ts',
  env: ServiceEnv,
): ServiceProcess {
  const { child, pid, exited, signal } = spawnTsx(entry, {
    env: { ...baseEnv(), LOG_LEVEL: 'info', ...env },
  });
  const logs: LogLine[] = [];
  const listeners = new Set<(line: LogLine | null) => void>();
  // Lines that are not log lines (a stack trace of a crash, say) are kept out of the structured logs.
  readLines(child.stdout!, (text) => {
    const line = parseLogLine<LogLine>(text);
    if (!line) return;
    logs.push(line);
    for (const listener of listeners) listener(line);
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
    for (const listener of listeners) listener(null);
  });
  const service: ServiceProcess = {
    name,
    pid,
    logs,
    exited,
    signal,
    waitForLog(match, timeoutMs = 30_000) {
      const found = logs.find(match);
      if (found) return Promise.resolve(found);
      const ending = () =>
        new Error(
          `${name} ended (code ${child.exitCode}, signal ${child.signalCode}) before a matching log line; stderr: ${stderr}`,
        );
      if (ended) return Promise.reject(ending());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`${name}: no matching log line within ${timeoutMs} ms; stderr: ${stderr}`));
        }, timeoutMs);
        const listener = (line: LogLine | null) => {
          if (line !== null && !match(line)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          if (line === null) reject(ending());
          else resolve(line);
        };
        listeners.add(listener);
      });
    },
    stderr: () => stderr,
  };
  return service;
}

/**
 * Starts the API with PORT=0 and resolves with its URL from its `listening` line: the kernel picks
 * the port at bind time, so no other process can take it between a choice and the bind.
 */
export async function spawnApi(
  name: string,
  env: ServiceEnv,
  started: ServiceProcess[],
): Promise<{ service: ServiceProcess; url: string }> {
  const service = spawnService(name, 'server/main.ts', { HOST: '127.0.0.1', ...env, PORT: '0' });
  started.push(service);
  const listening = await service.waitForLog((l) => l.event === 'listening', 60_000);
  const url = new URL(String(listening.url));
  if (!(Number(url.port) > 0)) throw new Error(`${name} reported no bound port: ${listening.url}`);
  return { service, url: url.origin };
}

/** The chosen port was bound by someone else before the child could bind it. */
export class PortTakenError extends Error {
  constructor(port: number, detail: string) {
    super(`port ${port} was taken before the child bound it: ${detail}`);
    this.name = this.constructor.name;
  }
}

// Below Linux's ephemeral range (32768+), where any outgoing connection could take the port, and
// clear of the test clusters' ports (18000-22700) and their bus ports (28000-32700).
const CANDIDATE_PORTS = { from: 23_000, to: 28_000, random: true };

/**
 * For a child that must be given a fixed port (a worker's NODE_PORT: there 0 turns the probe off):
 * calls `start` with a candidate port, and again with another one while it throws PortTakenError.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await findFreePort(CANDIDATE_PORTS);
    try {
      return await start(port);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= attempts) throw error;
    }
  }
}

/**
 * Resolves once the worker probe at `url` answers /health with `nodeId`: a process that merely
 * answers on that port (the one that took it) is never taken for this node. Throws PortTakenError
 * when the node ended with EADDRINUSE first, and a plain Error when it ended for any other reason.
 */
export async function waitForOwnProbe(probe: {
  url: string;
  nodeId: string;
  port: number;
  exited: Promise<unknown>;
  output: () => string;
  timeoutMs?: number;
}): Promise<void> {
  let ended = false;
  void probe.exited.then(() => {
    ended = true;
  });
  const deadline = Date.now() + (probe.timeoutMs ?? 60_000);
  for (;;) {
    if (ended) {
      const output = probe.output();
      if (/EADDRINUSE/.test(output)) throw new PortTakenError(probe.port, output.slice(-500));
      throw new Error(`${probe.nodeId} ended before its probe answered: ${output.slice(-2000)}`);
    }
    const health = await fetch(`${probe.url}/health`, { signal: AbortSignal.timeout(2000) })
      .then((res) => (res.ok ? (res.json() as Promise<{ node_id?: string }>) : null))
      .catch(() => null);
    if (health?.node_id === probe.nodeId) return;
    if (Date.now() > deadline)
      throw new Error(`${probe.nodeId}: no probe of its own at ${probe.url}: ${probe.output().slice(-2000)}`);
    await sleep(100);
  }
}

/** Starts a worker node with its probe on NODE_PORT (a free port, retried if taken) and resolves with the probe's URL. */
export async function spawnWorkerWithProbe(
  nodeId: string,
  env: ServiceEnv,
  started: ServiceProcess[],
): Promise<{ service: ServiceProcess; probe: string }> {
  return onFreePort(async (port) => {
    const service = spawnService(nodeId, 'workers/main.ts', {
      STEP_FAILURE_RATE: '0',
      ...env,
      HOST: '127.0.0.1',
      NODE_ID: nodeId,
      NODE_PORT: String(port),
    });
    started.push(service);
    const probe = `http://127.0.0.1:${port}`;
    await waitForOwnProbe({
      url: probe,
      nodeId,
      port,
      exited: service.exited,
      output: () => `${service.stderr()}\n${service.logs.map((l) => JSON.stringify(l)).join('\n')}`,
    });
    return { service, probe };
  });
}

/**
 * Starts a worker node process in the store and key namespace of `config` (a test system's), with
 * `env` on top, and adds it to `started` so the test's cleanup can kill it. Steps do not fail at
 * random unless `env` says so.
 */
export function spawnWorker(
  nodeId: string,
  config: Pick<Config, 'REDIS_NODES' | 'KEY_NAMESPACE'>,
  env: Record<string, string>,
  started: ServiceProcess[],
): ServiceProcess {
  const node = spawnService(nodeId, 'workers/main.ts', {
    REDIS_NODES: config.REDIS_NODES.map((s) => `${s.host}:${s.port}`).join(','),
    KEY_NAMESPACE: config.KEY_NAMESPACE,
    NODE_ID: nodeId,
    STEP_FAILURE_RATE: '0',
    ...env,
  });
  started.push(node);
  return node;
}

/** Kills every process still running (SIGKILL, by pid) and waits for them. */
export async function killAll(services: ServiceProcess[]): Promise<void> {
  for (const service of services) {
    service.signal('SIGCONT');
    service.signal('SIGKILL');
  }
  await Promise.all(services.map((s) => s.exited));
}

/** A key namespace of its own for one test run: `<prefix>` and a random suffix. */
export function uniqueNamespace(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}
