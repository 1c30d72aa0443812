// The orderflow processes of a chaos run: one API and N worker nodes, each restartable under its name.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type ServiceProcess, spawnService } from './service-process.js';

export interface ServicesOptions {
  logDir: string;
  /** REDIS_NODES, KEY_NAMESPACE and the step settings every process gets. */
  env: Record<string, string>;
  nodes: number;
}

/** The API and worker nodes; a killed one is started again by `restartApi` / `restartWorker`. */
export function createServices({ logDir, env, nodes }: ServicesOptions) {
  mkdirSync(logDir, { recursive: true });
  const workerIds = Array.from({ length: nodes }, (_, i) => `worker-${i + 1}`);
  const workers = new Map<string, ServiceProcess>();
  const incarnations = new Map<string, number>();
  const every = new Set<ServiceProcess>();
  let api: ServiceProcess | undefined;
  let apiUrl = '';
  let closed = false;

  // Each incarnation logs to a file of its own, so a restart's lines never mix with its predecessor's.
  function start(name: string, entry: string, extra: Record<string, string>): ServiceProcess {
    // A heal still under way when the run stops must not start a process that nothing would stop.
    if (closed) throw new Error(`not starting ${name}: the run is stopping`);
    const n = (incarnations.get(name) ?? 0) + 1;
    incarnations.set(name, n);
    const child = spawnService(name, entry, { ...env, ...extra }, path.join(logDir, `${name}.${n}.log`));
    every.add(child);
    void child.exited.then(() => every.delete(child));
    return child;
  }

  async function startApi(): Promise<string> {
    api = start('api', 'server/main.ts', { HOST: '127.0.0.1', PORT: '0' });
    // The API tells a parent with an IPC channel the port it bound (PORT=0: no race for a port).
    const msg = (await api.waitForMessage((m) => m.event === 'listening', 60_000)) as { port: number };
    apiUrl = `http://127.0.0.1:${msg.port}`;
    return apiUrl;
  }

  function startWorker(id: string): ServiceProcess {
    const child = start(id, 'workers/main.ts', { NODE_ID: id });
    workers.set(id, child);
    return child;
  }

  return {
    workerIds,
    /** The URL of the API incarnation running now (a new port after each restart). */
    get apiUrl(): string {
      return apiUrl;
    },
    get api(): ServiceProcess | undefined {
      return api;
    },
    worker: (id: string) => workers.get(id),
    /** The API and every worker node; resolves once each listens or has started its node. */
    async startAll(): Promise<void> {
      const started = workerIds.map(startWorker);
      await startApi();
      await Promise.all(started.map((w) => w.waitForLog('"event":"node-started"', 90_000)));
    },
    restartApi: startApi,
    /** Starts worker `id` again under the same NODE_ID; resolves once its node started. */
    async restartWorker(id: string): Promise<void> {
      await startWorker(id).waitForLog('"event":"node-started"', 90_000);
    },
    /** Every incarnation still running (a stopped one too). */
    get running(): ServiceProcess[] {
      return [...every].filter((c) => c.running);
    },
    /** SIGCONT + SIGTERM to every process still running, SIGKILL after `graceMs`. */
    async stopAll(graceMs = 15_000): Promise<void> {
      closed = true;
      await Promise.allSettled([...every].map((child) => child.stop(graceMs)));
    },
    /** SIGKILL to every process still running, synchronously: the last resort and the exit handler. */
    killAllSync(): void {
      for (const child of every) {
        child.signal('SIGCONT');
        child.signal('SIGKILL');
      }
    },
  };
}

export type Services = ReturnType<typeof createServices>;
