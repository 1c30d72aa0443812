// CLI for the local Redis Cluster alone: `npm run cluster -- up|down|status [--port 7000]`.
import { parseArgs } from 'node:util';
import {
  attachLocalCluster,
  type ClusterStatus,
  localClusterPaths,
  type NodeStatus,
  startLocalCluster,
  stopLocalCluster,
} from './local-cluster.js';

const USAGE = 'usage: npm run cluster -- up|down|status [--port 7000]';

class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n${USAGE}`);
    this.name = this.constructor.name;
  }
}

function logLine(msg: string, fields: object = {}): void {
  const pairs = Object.entries(fields).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  process.stderr.write(`· ${[msg, ...pairs].join(' ')}\n`);
}

function parseCommand(argv: string[]): { command: string; basePort: number } {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { port: { type: 'string', short: 'p', default: '7000' } },
  });
  const [command, ...rest] = positionals;
  if (!command || !['up', 'down', 'status'].includes(command) || rest.length > 0) {
    throw new UsageError(command ? `unknown command: ${positionals.join(' ')}` : 'no command given');
  }
  const basePort = Number(values.port);
  // The six bus ports (port + 10000) must fit below 65536 too.
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 55_530) {
    throw new UsageError(`--port must be an integer from 1024 to 55530, got ${values.port}`);
  }
  return { command, basePort };
}

class InterruptedError extends Error {
  constructor() {
    super('interrupted; stopped the nodes this run started');
    this.name = this.constructor.name;
  }
}

async function up(basePort: number): Promise<void> {
  const aborter = new AbortController();
  const interrupt = () => aborter.abort(new InterruptedError());
  process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
  const started = performance.now();
  try {
    const cluster = await startLocalCluster({ basePort, log: logLine, signal: aborter.signal });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(`redis cluster up in ${seconds} s (data in ${cluster.dir})\n`);
    process.stdout.write(`REDIS_NODES=${cluster.seeds}\n`);
  } finally {
    process.off('SIGINT', interrupt).off('SIGTERM', interrupt);
  }
}

const range = ([from, to]: [number, number]) => (from === to ? `${from}` : `${from}-${to}`);
const slotCount = (n: NodeStatus) => n.slots.reduce((sum, [from, to]) => sum + to - from + 1, 0);

function formatStatus(status: ClusterStatus): string {
  const rows = [['ROLE', 'NODE', 'PID', 'SLOTS / MASTER', 'CLUSTER_STATE']];
  const byRole = (role: NodeStatus['role']) => status.nodes.filter((n) => n.role === role);
  for (const n of byRole('master')) {
    const slots = `${n.slots.map(range).join(',') || 'none'} (${slotCount(n)} slots)`;
    rows.push(['master', `127.0.0.1:${n.port}`, `${n.pid ?? '-'}`, slots, n.clusterState ?? 'down']);
  }
  for (const n of byRole('replica')) {
    const link = n.masterLinkUp ? 'link up' : 'link down';
    const of = `of 127.0.0.1:${n.masterPort ?? '?'} (${link})`;
    rows.push(['replica', `127.0.0.1:${n.port}`, `${n.pid ?? '-'}`, of, n.clusterState ?? 'down']);
  }
  for (const n of byRole('unknown')) {
    rows.push(['?', `127.0.0.1:${n.port}`, `${n.pid ?? '-'}`, '', n.clusterState ?? 'down']);
  }
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  const table = rows.map((row) =>
    row
      .map((cell, col) => cell.padEnd(widths[col]!))
      .join('  ')
      .trimEnd(),
  );
  const notOk = status.nodes
    .filter((n) => n.clusterState !== 'ok')
    .map((n) => `127.0.0.1:${n.port} ${n.clusterState ? `cluster_state:${n.clusterState}` : 'down'}`);
  const overall = status.ok ? 'cluster_state:ok' : `cluster NOT ok: ${notOk.join(', ')}`;
  return `${table.join('\n')}\n\n${overall}\n`;
}

async function status(basePort: number): Promise<void> {
  const cluster = attachLocalCluster(localClusterPaths({ basePort }));
  const result = await cluster.status();
  if (!result.nodes.some((n) => n.answering)) throw new Error(`no redis cluster answers at port ${basePort}`);
  process.stdout.write(formatStatus(result));
  process.stdout.write(`REDIS_NODES=${cluster.seeds}\n`);
  if (!result.ok) process.exitCode = 1;
}

async function down(basePort: number): Promise<void> {
  const pids = await attachLocalCluster(localClusterPaths({ basePort })).pids();
  await stopLocalCluster({ basePort });
  process.stdout.write(
    pids.length > 0
      ? `redis cluster at port ${basePort} stopped (pids ${pids.join(' ')})\n`
      : `no redis cluster was running at port ${basePort}\n`,
  );
}

async function main(): Promise<void> {
  const { command, basePort } = parseCommand(process.argv.slice(2));
  if (command === 'up') await up(basePort);
  else if (command === 'down') await down(basePort);
  else await status(basePort);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = err instanceof InterruptedError ? 130 : 1;
});
