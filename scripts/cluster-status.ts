// Reads a local cluster's topology and health from its nodes: CLUSTER NODES, CLUSTER INFO, INFO replication.
import { Redis } from 'ioredis';

const SLOT_COUNT = 16_384;

export interface NodeStatus {
  port: number;
  /** From the node's pid file; null when none was recorded. */
  pid: number | null;
  /** Whether the node answered just now. */
  answering: boolean;
  id: string | null;
  role: 'master' | 'replica' | 'unknown';
  /** For a replica, the port of the master it replicates. */
  masterPort: number | null;
  /** Inclusive slot ranges a master owns. */
  slots: Array<[number, number]>;
  /** The node's own `cluster_state`, null when it does not answer. */
  clusterState: string | null;
  slotsAssigned: number | null;
  slotsOk: number | null;
  knownNodes: number | null;
  /** For a replica, whether `master_link_status:up`. */
  masterLinkUp: boolean | null;
}

export interface ClusterStatus {
  /** True when every node answers with cluster_state:ok. */
  ok: boolean;
  nodes: NodeStatus[];
}

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  slots: Array<[number, number]>;
}

interface Probe {
  info: Map<string, string>;
  replication: Map<string, string>;
  lines: NodeLine[];
}

function parseFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return fields;
}

/** Parses CLUSTER NODES; migrating/importing markers (`[slot->-id]`) are not ownership, so they are skipped. */
function parseClusterNodes(text: string): NodeLine[] {
  const lines: NodeLine[] = [];
  for (const raw of text.split('\n')) {
    const [id, address, flags, masterId, , , , , ...slotFields] = raw.trim().split(' ');
    if (!id || !address || !flags || !masterId) continue;
    const slots: Array<[number, number]> = [];
    for (const field of slotFields) {
      if (field.startsWith('[')) continue;
      const [from, to = from] = field.split('-').map(Number);
      if (from !== undefined && to !== undefined) slots.push([from, to]);
    }
    const port = Number(address.split('@')[0]?.split(':').pop());
    lines.push({ id, port, flags: flags.split(','), masterId, slots });
  }
  return lines;
}

async function probe(port: number): Promise<Probe | null> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const [info, nodes, replication] = await Promise.all([
      redis.call('CLUSTER', 'INFO'),
      redis.call('CLUSTER', 'NODES'),
      redis.call('INFO', 'replication'),
    ]);
    return {
      info: parseFields(String(info)),
      replication: parseFields(String(replication)),
      lines: parseClusterNodes(String(nodes)),
    };
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

const numberOrNull = (value: string | undefined) => (value === undefined ? null : Number(value));

/**
 * Asks every node at once. A node's own `myself` line is the truth about its role; a node
 * that does not answer is described from the first other node that knows it.
 */
export async function readClusterStatus(
  ports: number[],
  pidOf: (port: number) => Promise<number | null>,
): Promise<ClusterStatus> {
  const probes = await Promise.all(ports.map(probe));
  const views = probes.flatMap((p) => (p ? [p.lines] : []));
  const lineOf = (port: number, index: number) =>
    probes[index]?.lines.find((l) => l.flags.includes('myself')) ??
    views.flat().find((l) => l.port === port && !l.flags.includes('handshake'));
  const portOfId = new Map(views.flat().map((l) => [l.id, l.port]));
  // Another node's view of a dead master can lag a failover; its replica's own claim wins.
  const claimed = probes.flatMap((p) => p?.lines.find((l) => l.flags.includes('myself'))?.slots ?? []);
  const unclaimed = ([from, to]: [number, number]) => !claimed.some(([f, t]) => from <= t && f <= to);
  const nodes = await Promise.all(
    ports.map(async (port, index): Promise<NodeStatus> => {
      const p = probes[index];
      const line = lineOf(port, index);
      const role = line?.flags.includes('master')
        ? 'master'
        : line?.flags.includes('slave')
          ? 'replica'
          : 'unknown';
      const link = p?.replication.get('master_link_status');
      return {
        port,
        pid: await pidOf(port),
        answering: p !== null && p !== undefined,
        id: line?.id ?? null,
        role,
        masterPort: role === 'replica' ? (portOfId.get(line?.masterId ?? '') ?? null) : null,
        slots: role !== 'master' ? [] : p ? (line?.slots ?? []) : (line?.slots.filter(unclaimed) ?? []),
        clusterState: p?.info.get('cluster_state') ?? null,
        slotsAssigned: numberOrNull(p?.info.get('cluster_slots_assigned')),
        slotsOk: numberOrNull(p?.info.get('cluster_slots_ok')),
        knownNodes: numberOrNull(p?.info.get('cluster_known_nodes')),
        masterLinkUp: link === undefined ? null : link === 'up',
      };
    }),
  );
  return { ok: nodes.every((n) => n.clusterState === 'ok'), nodes };
}

/** What keeps the cluster from being ready for tests; empty when every slot is served and every replica synced. */
export function readinessProblems(status: ClusterStatus): string[] {
  const problems: string[] = [];
  const count = status.nodes.length;
  for (const n of status.nodes) {
    const at = `127.0.0.1:${n.port}`;
    if (!n.answering) problems.push(`${at} does not answer`);
    else if (n.clusterState !== 'ok') problems.push(`${at} cluster_state:${n.clusterState}`);
    else if (n.slotsAssigned !== SLOT_COUNT || n.slotsOk !== SLOT_COUNT)
      problems.push(`${at} slots assigned ${n.slotsAssigned}, ok ${n.slotsOk} of ${SLOT_COUNT}`);
    else if (n.knownNodes !== count) problems.push(`${at} knows ${n.knownNodes} of ${count} nodes`);
    else if (n.role === 'replica' && !n.masterLinkUp)
      problems.push(`replica ${at} master_link_status not up`);
  }
  const masters = status.nodes.filter((n) => n.role === 'master').length;
  if (problems.length === 0 && masters * 2 !== count)
    problems.push(`${masters} masters among ${count} nodes`);
  return problems;
}
