// `npm start`: the local cluster (unless REDIS_NODES names one), the API and WORKERS worker nodes.
// Ctrl-C / SIGTERM stops exactly the processes this started, by pid, and exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { type LocalCluster, RedisServerNotFoundError, startLocalCluster } from './local-cluster.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = (() => {
  try {
    return loadConfig();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
})();
const log = createLogger(config, { service: 'start' });
const children = new Map<ChildProcess, string>();
let cluster: LocalCluster | undefined;
let stopping = false;

function launch(name: string, entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
  children.set(child, name);
  child.once('exit', (code, signal) => {
    children.delete(child);
    if (stopping) return;
    log.error({ event: 'process-exited', process: name, pid: child.pid, code, signal });
    void stop(1);
  });
  return child;
}

async function waitForReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the API did not become ready at ${url} within ${timeoutMs} ms`);
}

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    log.info({ event: 'stopping', processes: children.size });
    const exits = [...children.keys()].map(
      (child) =>
        new Promise<void>((resolve) =>
          child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
        ),
    );
    for (const child of children.keys()) child.kill('SIGTERM');
    await Promise.all(exits);
    if (cluster)
      await cluster.stop().catch((error) => log.error({ event: 'cluster-stop-failed', err: error }));
    log.info({ event: 'stopped' });
  }
  process.exit(code);
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  let seeds = process.env.REDIS_NODES;
  if (!seeds) {
    cluster = await startLocalCluster({
      log: (msg, fields) => log.info({ event: 'cluster', ...fields }, msg),
    });
    seeds = cluster.seeds;
  }
  const adminToken = config.ADMIN_TOKEN ?? randomBytes(18).toString('base64url');
  const env = { REDIS_NODES: seeds, ADMIN_TOKEN: adminToken };
  launch('api', 'server/main.ts', env);
  for (let i = 1; i <= config.WORKERS; i++) {
    launch(`worker-${i}`, 'workers/main.ts', { ...env, NODE_ID: process.env.NODE_ID ?? `worker-${i}` });
  }
  const url = `http://${config.HOST}:${config.PORT}`;
  await waitForReady(url);
  const lines = [
    '',
    `orderflow is running: ${config.WORKERS} worker node(s) x ${config.WORKER_CONCURRENCY} slots, store ${seeds}`,
    `  API          ${url}   (POST /orders, GET /orders/:id)`,
    `  API docs     ${url}/docs   (OpenAPI: ${url}/openapi.json)`,
    `  dashboard    ${url}/dashboard      (admin)`,
    `  Bull Board   ${url}/admin/queues   (admin)`,
    `  nodes, stats ${url}/nodes  ${url}/stats  ${url}/metrics`,
    `  health       ${url}/health  ${url}/ready`,
    `  admin token  ${adminToken}   (Bearer, or the password of basic auth with any user name)`,
    '  Ctrl-C stops everything this started.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch(async (error: unknown) => {
  if (error instanceof RedisServerNotFoundError) process.stderr.write(`${error.message}\n`);
  else log.error({ event: 'start-failed', err: error });
  await stop(1);
});
