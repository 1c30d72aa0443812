// Who is connected to each store node: CLIENT LIST of every master and replica, counted by kind of client.
import { Redis } from 'ioredis';
import type { LocalCluster } from '../../scripts/local-cluster.js';

/** Kinds of client, told apart by the connection name each process sets. */
export const CLIENT_KINDS = ['node', 'blocking', 'api', 'other'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** The clients of one store node by kind, and how many wait in a blocking command now. */
export interface NodeClients {
  port: number;
  role: 'master' | 'replica';
  byKind: Record<ClientKind, number>;
  total: number;
  blocked: number;
  /** The last command of the workers' clients (`cmd=`), counted: what a connection is there for. */
  lastCommands: Record<string, number>;
}

/**
 * The kind of a client from its `name=`: a worker node's shared connection is `orderflow-worker-…`;
 * each BullMQ Worker's blocking connection (a duplicate of that Cluster client) is named by BullMQ
 * `<prefix>:<queue>:w:<NODE_ID>`; the API's is `orderflow-api`. The rest (the bench's own, replication
 * links, unnamed ones) is `other`.
 */
export function kindOf(name: string): ClientKind {
  if (name.startsWith('orderflow-worker-')) return 'node';
  if (name.includes(':w:')) return 'blocking';
  if (name === 'orderflow-api') return 'api';
  return 'other';
}

/** Counts the lines of a CLIENT LIST reply by kind; `blocked` counts flags with `b` (in a blocking call). */
export function countClients(clientList: string): Omit<NodeClients, 'port' | 'role'> {
  const byKind: Record<ClientKind, number> = { node: 0, blocking: 0, api: 0, other: 0 };
  let blocked = 0;
  let total = 0;
  const lastCommands: Record<string, number> = {};
  for (const line of clientList.split('\n')) {
    if (!line.trim()) continue;
    const fields = new Map(
      line
        .trim()
        .split(' ')
        .map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]),
    );
    const kind = kindOf(fields.get('name') ?? '');
    byKind[kind]++;
    if (kind === 'node' || kind === 'blocking') {
      const cmd = `${kind} ${fields.get('cmd') ?? '?'}`;
      lastCommands[cmd] = (lastCommands[cmd] ?? 0) + 1;
    }
    if ((fields.get('flags') ?? '').includes('b')) blocked++;
    total++;
  }
  return { byKind, total, blocked, lastCommands };
}

/** CLIENT LIST of every answering node of the local cluster, masters first. */
export async function clientCensus(cluster: LocalCluster): Promise<NodeClients[]> {
  const { nodes } = await cluster.status();
  const answering = nodes.filter((n) => n.answering && (n.role === 'master' || n.role === 'replica'));
  const counted = await Promise.all(
    answering.map(async ({ port, role }) => {
      const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        const list = (await redis.client('LIST')) as string;
        return { port, role: role as 'master' | 'replica', ...countClients(list) };
      } finally {
        redis.disconnect();
      }
    }),
  );
  return counted.sort((a, b) => (a.role === b.role ? a.port - b.port : a.role === 'master' ? -1 : 1));
}
