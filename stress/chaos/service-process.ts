// One orderflow process of the chaos run (API or worker node): spawned and signalled by its pid only.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What a child takes from this process: what node and tsx need (tsx keeps its compile cache under
 * TMPDIR). Nothing that configures orderflow: a developer's STEP_MS or LOCK_MS must not leak in.
 */
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR'] as const) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return env;
}

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A running (or ended) incarnation of a service. */
export interface ServiceProcess {
  name: string;
  pid: number;
  logFile: string;
  exited: Promise<Exit>;
  readonly running: boolean;
  /** Sends `signal` to this pid if it still runs. */
  signal(signal: NodeJS.Signals): void;
  /** Resolves with the first IPC message `match` accepts; rejects if the process ends first. */
  waitForMessage(match: (msg: Record<string, unknown>) => boolean, timeoutMs: number): Promise<unknown>;
  /** Resolves once a log line contains `text`; rejects if the process ends first. */
  waitForLog(text: string, timeoutMs: number): Promise<void>;
  /** SIGCONT (a stopped process cannot act on SIGTERM), SIGTERM, SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `node --import tsx <entry>` with `env` and the inherited basics only. Its output goes
 * straight to `logFile` (no piping through this process, which also runs the proxies). An IPC
 * channel lets the API report its bound port (PORT=0), and makes every child shut down by itself
 * if this process dies without stopping it (orderflow's runMain watches the channel).
 */
export function spawnService(
  name: string,
  entry: string,
  env: Record<string, string>,
  logFile: string,
): ServiceProcess {
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: { ...inheritedEnv(), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', fd, fd, 'ipc'],
    // A group of its own: a terminal's Ctrl-C reaches only the chaos CLI, which stops each child once.
    detached: true,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${entry})`);
  child.channel?.unref();
  child.on('error', () => {}); // an IPC send to a dead child; its exit is what counts
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  const ended = () => new Error(`${name} exited (see ${path.relative(REPO_ROOT, logFile)})`);

  const service: ServiceProcess = {
    name,
    pid: child.pid,
    logFile,
    exited,
    get running() {
      return running();
    },
    signal(signal) {
      if (running()) process.kill(child.pid!, signal);
    },
    waitForMessage(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const onMessage = (msg: unknown) => {
          if (typeof msg !== 'object' || msg === null || !match(msg as Record<string, unknown>)) return;
          done();
          resolve(msg);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: no such message within ${timeoutMs} ms`));
        }, timeoutMs);
        const onExit = () => {
          done();
          reject(ended());
        };
        const done = () => {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
        if (!running()) onExit();
      });
    },
    async waitForLog(text, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (readFileSync(logFile, 'utf8').includes(text)) return;
        if (!running()) throw ended();
        if (Date.now() > deadline) throw new Error(`${name}: no "${text}" within ${timeoutMs} ms`);
        await sleep(200);
      }
    },
    async stop(graceMs = 15_000) {
      if (!running()) return void (await exited);
      service.signal('SIGCONT');
      service.signal('SIGTERM');
      const timer = setTimeout(() => service.signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return service;
}
