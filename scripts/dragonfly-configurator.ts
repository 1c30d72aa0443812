// Keeps a Dragonfly cluster configured: Dragonfly nodes neither gossip nor keep their slot map across a
// restart, so this pushes the same DFLYCLUSTER CONFIG to every node that answers it is not configured.
import { once } from 'node:events';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { runMain } from '../shared/process.js';
import { withTimeout } from '../shared/store.js';
import { buildClusterConfig, type DragonflyClusterConfig } from './dragonfly-config.js';

/** One Dragonfly node: where clients dial it, and its admin port, the only listener DFLYCLUSTER answers on. */
export interface ConfiguredNode {
  id: string;
  host: string;
  port: number;
  adminPort: number;
}

/** The two commands the configurator sends; a plain ioredis Redis satisfies it through `call`. */
export interface NodeConnection {
  call(command: string, ...args: string[]): Promise<unknown>;
  disconnect(): void;
}

export type NodeState = 'configured' | 'pushed' | 'not-configured' | 'drift' | 'unreachable' | 'rejected';

export interface ConfiguratorDeps {
  nodes: readonly ConfiguredNode[];
  config: DragonflyClusterConfig;
  logger: Logger;
  /** Opens the admin connection of a node; inject a fake to test without Dragonfly. */
  connect?: (node: ConfiguredNode) => NodeConnection;
  intervalMs?: number;
  /** Present while every node serves `config`: what a container healthcheck tests. */
  healthFile?: string;
  /** Push even to a node that serves another slot map (Dragonfly then drops the keys of slots it loses). */
  force?: boolean;
  probeTimeoutMs?: number;
}

/** Dragonfly's answer to data and topology commands before its first DFLYCLUSTER CONFIG. */
const NOT_CONFIGURED = /not yet configured/i;

function defaultConnect(node: ConfiguredNode): NodeConnection {
  const redis = new Redis({
    host: node.host,
    port: node.adminPort,
    connectionName: 'orderflow-dragonfly-configurator',
    // Fail a probe at once while the node is down; the next round tries again.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 1000,
    connectTimeout: 2000,
  });
  redis.on('error', () => {}); // reported per round as node-unreachable
  return {
    async call(command, ...args) {
      // Without an offline queue a command fails at once while connecting; wait for the socket (or
      // its error: `once` rejects on 'error') so a node that is merely starting is not called down.
      if (redis.status !== 'ready') await withTimeout(once(redis, 'ready'), 2000, 'connect');
      return redis.call(command, ...args);
    },
    disconnect: () => redis.disconnect(),
  };
}

/** `start-end@masterId` of every range, sorted: equal for two slot maps that route alike. */
function rangesOfConfig(config: DragonflyClusterConfig): string[] {
  return config.flatMap((s) => s.slot_ranges.map((r) => `${r.start}-${r.end}@${s.master.id}`)).sort();
}

/** The same from a CLUSTER SLOTS reply: [[start, end, [ip, port, id], ...replicas], ...]. */
function rangesOfSlotsReply(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((entry) => `${entry[0]}-${entry[1]}@${entry[2]?.[2]}`).sort();
}

/** The configurator service: `start()` to keep the cluster configured, `close()` to stop. */
export function createDragonflyConfigurator(deps: ConfiguratorDeps) {
  const { nodes, config, logger, connect = defaultConnect, intervalMs = 5000 } = deps;
  const probeTimeoutMs = deps.probeTimeoutMs ?? 2000;
  const json = JSON.stringify(config);
  const wanted = rangesOfConfig(config).join(',');
  const connections = new Map<string, NodeConnection>();
  const last = new Map<string, NodeState>();
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<NodeState[]> | undefined;
  let closed = false;

  const connection = (node: ConfiguredNode) => {
    const open = connections.get(node.id) ?? connect(node);
    connections.set(node.id, open);
    return open;
  };
  const send = (node: ConfiguredNode, ...command: string[]) =>
    withTimeout(connection(node).call(command[0]!, ...command.slice(1)), probeTimeoutMs, command[0]!);

  async function probe(node: ConfiguredNode): Promise<NodeState> {
    try {
      const served = rangesOfSlotsReply(await send(node, 'CLUSTER', 'SLOTS')).join(',');
      return served === wanted ? 'configured' : 'drift';
    } catch (error) {
      return NOT_CONFIGURED.test((error as Error).message) ? 'not-configured' : 'unreachable';
    }
  }

  async function reconcileNode(node: ConfiguredNode): Promise<NodeState> {
    const found = await probe(node);
    const fields = { node_id: node.id, node: `${node.host}:${node.port}` };
    if (found === 'unreachable' || found === 'configured' || (found === 'drift' && !deps.force)) {
      if (found !== last.get(node.id) && found !== 'configured') {
        const level = found === 'drift' ? 'error' : 'warn';
        logger[level](
          { event: `node-${found}`, ...fields },
          found === 'drift' ? 'the node serves another slot map; not overwritten without --force' : undefined,
        );
      }
      return found;
    }
    try {
      await send(node, 'DFLYCLUSTER', 'CONFIG', json);
      logger.info({ event: 'config-pushed', reason: found, ...fields });
      return 'pushed';
    } catch (error) {
      logger.error({ event: 'config-rejected', err: error, ...fields });
      return 'rejected';
    }
  }

  /** One pass over every node: probe, push where needed, update the health file. */
  async function reconcile(): Promise<NodeState[]> {
    const states = await Promise.all(nodes.map(reconcileNode));
    for (const [i, node] of nodes.entries()) last.set(node.id, states[i]!);
    const healthy = states.every((s) => s === 'configured' || s === 'pushed');
    if (deps.healthFile) {
      await (healthy
        ? writeFile(deps.healthFile, `${new Date().toISOString()}\n`)
        : rm(deps.healthFile, { force: true }));
    }
    return states;
  }

  // Rounds never overlap: the next is scheduled only when one has finished.
  function runRound(): void {
    round = reconcile()
      .catch((error: unknown) => {
        logger.error({ event: 'reconcile-failed', err: error });
        return [] as NodeState[];
      })
      .finally(() => {
        if (!closed) timer = setTimeout(runRound, intervalMs);
      });
  }

  return {
    reconcile,
    /** Reconciles now and then every `intervalMs`, one round at a time. */
    start(): void {
      logger.info({ event: 'configurator-started', nodes: nodes.map((n) => n.id), slot_map: wanted });
      runRound();
    },
    /** Stops the loop, waits for a round in flight and closes every connection. */
    async close(): Promise<void> {
      closed = true;
      clearTimeout(timer);
      await round?.catch(() => {});
      for (const conn of connections.values()) conn.disconnect();
      connections.clear();
    },
  };
}

/** `id@host:port[/adminPort]`, e.g. `orderflow-df-1@dragonfly-1:6379/16379`. */
export function parseNodeSpec(spec: string): ConfiguredNode {
  const match = /^([\w.-]+)@([\w.-]+):(\d{1,5})(?:\/(\d{1,5}))?$/.exec(spec.trim());
  if (!match) throw new Error(`--node ${JSON.stringify(spec)}: expected id@host:port[/adminPort]`);
  const [, id, host, port, adminPort] = match;
  return { id: id!, host: host!, port: Number(port), adminPort: Number(adminPort ?? port) };
}

// Entry point when run as a program (not when a test imports the factory): SHARDS and LOG_LEVEL come from
// the shared config; the node list, period and health file from the command line.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMain('dragonfly-configurator', async ({ onShutdown }) => {
    const { values } = parseArgs({
      options: {
        node: { type: 'string', multiple: true, default: [] },
        'interval-ms': { type: 'string', default: '5000' },
        'health-file': { type: 'string' },
        'config-file': { type: 'string' },
        force: { type: 'boolean', default: false },
      },
    });
    const config = loadConfig();
    const logger = createLogger(config, { service: 'dragonfly-configurator' });
    const nodes = values.node.map(parseNodeSpec);
    const intervalMs = Number(values['interval-ms']);
    if (nodes.length === 0) throw new Error('name every node with --node id@host:port[/adminPort]');
    if (!Number.isInteger(intervalMs) || intervalMs < 100) throw new Error('--interval-ms must be >= 100');
    // A config file replaces the computed map, e.g. after slots were moved by a migration.
    const clusterConfig: DragonflyClusterConfig = values['config-file']
      ? JSON.parse(await readFile(values['config-file'], 'utf8'))
      : buildClusterConfig({
          nodes: nodes.map((n) => ({ id: n.id, ip: n.host, port: n.port })),
          shards: config.SHARDS,
        });
    const configurator = createDragonflyConfigurator({
      nodes,
      config: clusterConfig,
      logger,
      intervalMs,
      healthFile: values['health-file'],
      force: values.force,
    });
    configurator.start();
    onShutdown('configurator', () => configurator.close());
    return logger;
  });
}
