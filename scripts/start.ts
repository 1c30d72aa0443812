// `npm start [-- --port 7000]`: the local cluster (unless REDIS_NODES names one), the API and WORKERS worker nodes,
// supervised: a crashed process is restarted; Ctrl-C / SIGTERM stops exactly what this started, by pid.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.js';
import { createLogger, flushLogs } from '../shared/logger.js';
import { exitCodeOf, FORCE_EXIT_SIGNALS, onStopSignals } from '../shared/process.js';
import { claimOwnership, readOwner } from './cluster-owner.js';
import { waitUntil } from './kit/wait.js';
import {
  type LocalCluster,
  LocalClusterError,
  localClusterPaths,
  RedisServerNotFoundError,
  startLocalCluster,
} from './local-cluster.js';
import { createSupervisor } from './supervisor.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = (() => {
  try {
    return loadConfig();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
})();
const basePort = (() => {
  const { values } = parseArgs({ options: { port: { type: 'string', short: 'p', default: '7000' } } });
  const port = Number(values.port);
  if (Number.isInteger(port) && port >= 1024 && port <= 55_530) return port;
  process.stderr.write(
    `--port must be an integer from 1024 to 55530 (the cluster's base port), got ${values.port}\n`,
  );
  process.exit(2);
})();

const log = createLogger(config, { service: 'start' });
const startup = new AbortController();
let apiPort: number | undefined;
let announceApi: (() => void) | undefined;
const supervisor = createSupervisor({
  cwd: root,
  log,
  onMessage(name, message) {
    const { event, port } = (message ?? {}) as { event?: string; port?: number };
    if (name !== 'api' || event !== 'listening' || typeof port !== 'number') return;
    apiPort = port;
    announceApi?.();
  },
  onAllDown: (clean) => void stop(clean ? 0 : 1, 'every process is down'),
});
/** The cluster this launcher started or adopted, and so stops; a cluster it only uses is left running. */
let ownCluster: LocalCluster | undefined;
let clusterStopped = false;
let stopping: Promise<void> | undefined;

/** Stops every process this started, then its cluster; a second call (a repeated signal) joins the first. */
function stop(code: number, reason: string): Promise<void> {
  stopping ??= (async () => {
    log.info({ event: 'stopping', reason, processes: Object.keys(supervisor.pids()).length });
    startup.abort(new LocalClusterError('stopped while starting'));
    await supervisor.stop();
    if (ownCluster) {
      await ownCluster.stop().catch((error) => log.error({ event: 'cluster-stop-failed', err: error }));
      clusterStopped = true;
    }
    log.info({ event: 'stopped', exit_code: code });
    await flushLogs(log);
    process.exit(code);
  })();
  return stopping;
}

/** The deliberate way out of a stop that hangs: SIGKILL what this started, cluster included, and exit. */
function forceExit(signal: 'SIGINT' | 'SIGTERM', signals: number): never {
  log.warn({ event: 'forced-exit', signal, signals });
  log.flush();
  process.exit(exitCodeOf(signal)); // the exit handler kills the children and the cluster
}

// Whatever ends this process short of SIGKILL (an uncaught error, a forced exit), nothing it started outlives it.
process.on('exit', () => {
  supervisor.killAll();
  if (ownCluster && !clusterStopped) {
    ownCluster.killSync();
    rmSync(ownCluster.dir, { recursive: true, force: true });
  }
});

/** Resolves once the API at `url` answers /ready with 200 (scripts/kit/wait.ts). */
async function waitForReady(url: string, timeoutMs = 60_000): Promise<void> {
  await waitUntil(`the API to be ready at ${url}`, () => fetch(`${url}/ready`).then((r) => r.ok), timeoutMs);
}

/** Starts the local cluster, adopting one a killed launcher left behind; refuses one a live launcher owns. */
async function bringUpCluster(): Promise<string> {
  const { dir } = localClusterPaths({ basePort });
  const owner = await readOwner(dir);
  if (owner.state === 'alive') {
    throw new LocalClusterError(
      `another npm start (pid ${owner.pid}) runs the cluster on port ${basePort}: stop it, or pass --port`,
    );
  }
  const cluster = await startLocalCluster({
    basePort,
    log: (msg, fields) => log.info({ event: 'cluster', ...fields }, msg),
    signal: startup.signal,
    replaceUnhealthy: owner.state === 'dead',
  });
  if (!cluster.reused || owner.state === 'dead') {
    ownCluster = cluster;
    await claimOwnership(cluster.dir);
    if (owner.state === 'dead') log.info({ event: 'cluster-adopted', dir, previous_launcher: owner.pid });
  } else {
    log.info({ event: 'cluster-shared', dir, action: 'started by npm run cluster; left running at exit' });
  }
  return cluster.seeds;
}

function apiListening(timeoutMs = 60_000): Promise<number> {
  if (apiPort !== undefined) return Promise.resolve(apiPort);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the API did not listen within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    announceApi = () => {
      clearTimeout(timer);
      resolve(apiPort!);
    };
  });
}

async function main(): Promise<void> {
  onStopSignals((signal, count) => {
    if (count >= FORCE_EXIT_SIGNALS) forceExit(signal, count);
    if (stopping) log.info({ event: 'stop-already-running', signal, signals: count });
    void stop(0, signal);
  });
  const seeds = process.env.REDIS_NODES || (await bringUpCluster());
  if (stopping) return;
  const adminToken = config.ADMIN_TOKEN ?? randomBytes(18).toString('base64url');
  const env = { REDIS_NODES: seeds, ADMIN_TOKEN: adminToken };
  supervisor.add({ name: 'api', entry: 'server/main.ts', env });
  for (let i = 1; i <= config.WORKERS; i++) {
    const nodeId = process.env.NODE_ID ? `${process.env.NODE_ID}-${i}` : `worker-${i}`;
    supervisor.add({ name: `worker-${i}`, entry: 'workers/main.ts', env: { ...env, NODE_ID: nodeId } });
  }
  const url = `http://${config.HOST}:${await apiListening()}`;
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
    `  pids         ${JSON.stringify(supervisor.pids())}`,
    '  A process that crashes is restarted (same NODE_ID); a node drained by an operator stays down.',
    '  Ctrl-C stops everything this started; a third SIGINT/SIGTERM (a second Ctrl-C under npm) forces it.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch(async (error: unknown) => {
  if (stopping) return;
  if (error instanceof RedisServerNotFoundError || error instanceof LocalClusterError) {
    process.stderr.write(`${error.message}\n`);
  } else log.error({ event: 'start-failed', err: error });
  await stop(1, 'start failed');
});
