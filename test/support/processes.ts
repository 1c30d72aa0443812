// Real orderflow processes for fault-tolerance tests: spawned by pid, signalled by pid, logs captured.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../shared/config.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface LogLine {
  level: string;
  event?: string;
  [field: string]: unknown;
}

export interface ServiceProcess {
  name: string;
  pid: number;
  logs: LogLine[];
  /** Resolves with the exit code (null when killed by a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal(signal: NodeJS.Signals): void;
  /** Resolves with the first log line matching `match`, now or later. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts `server/main.ts` or `workers/main.ts` with `env` on top of this process's environment. */
export function spawnService(
  name: string,
  entry: 'server/main.ts' | 'workers/main.ts',
  env: Record<string, string>,
) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const logs: LogLine[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const text of lines) {
      try {
        const line = JSON.parse(text) as LogLine;
        logs.push(line);
        for (const listener of listeners) listener(line);
      } catch {
        // not a log line (a stack trace of a crash, say): kept out of the structured logs
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const service: ServiceProcess = {
    name,
    pid: child.pid,
    logs,
    exited,
    signal: (signal) => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
    },
    waitForLog(match, timeoutMs = 20_000) {
      const found = logs.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`${name}: no matching log line within ${timeoutMs} ms; stderr: ${stderr}`));
        }, timeoutMs);
        const listener = (line: LogLine) => {
          if (!match(line)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(line);
        };
        listeners.add(listener);
      });
    },
  };
  return service;
}

/**
 * Starts a worker node process in the store and key namespace of `config` (a test system's), with
 * `env` on top, and adds it to `started` so the test's cleanup can kill it.
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
