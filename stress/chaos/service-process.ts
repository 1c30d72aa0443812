// One orderflow process of the chaos run (API or worker node): spawned and signalled by its pid only.
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, type ChildExit, REPO_ROOT, spawnTsx, type TsxChild } from '../../scripts/kit/spawn.js';

/** A running (or ended) incarnation of a service. */
export interface ServiceProcess {
  name: string;
  pid: number;
  logFile: string;
  exited: Promise<ChildExit>;
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
  let spawned: TsxChild;
  try {
    spawned = spawnTsx(entry, {
      env: { ...baseEnv(), LOG_LEVEL: 'info', ...env },
      output: fd,
      ipc: true,
      // A group of its own: a terminal's Ctrl-C reaches only the chaos CLI, which stops each child once.
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  const { child, pid, exited } = spawned;
  child.channel?.unref();
  child.on('error', () => {}); // an IPC send to a dead child; its exit is what counts
  const running = () => spawned.running;
  const ended = () => new Error(`${name} exited (see ${path.relative(REPO_ROOT, logFile)})`);

  const service: ServiceProcess = {
    name,
    pid,
    logFile,
    exited,
    get running() {
      return running();
    },
    signal: spawned.signal,
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
