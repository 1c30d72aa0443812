// Real orderflow processes for fault-tolerance tests: spawned by pid, signalled by pid, logs captured.
import { randomBytes } from 'node:crypto';
import { parseLogLine, readLines } from '../../scripts/kit/lines.js';
import { baseEnv, spawnTsx } from '../../scripts/kit/spawn.js';
import type { Config } from '../../shared/config.js';

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
