// The local Redis Cluster the suite runs against: 3 masters owning every slot, 3 synced replicas.
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLocalCluster, localTestCluster, redisNodes, redisSeeds } from './support/cluster.js';

interface NodeLine {
  id: string;
  port: number;
  role: 'master' | 'replica';
  masterId: string;
  slots: Array<[number, number]>;
}

// Parsed here rather than with scripts/cluster-status.ts, so the launcher is checked independently.
function ownLine(clusterNodes: string): NodeLine {
  const line = clusterNodes.split('\n').find((l) => l.split(' ')[2]?.includes('myself'));
  const [id = '', address = '', flags = '', masterId = '', , , , , ...slots] = (line ?? '').trim().split(' ');
  return {
    id,
    port: Number(address.split('@')[0]?.split(':').pop()),
    role: flags.includes('master') ? 'master' : 'replica',
    masterId,
    slots: slots.map((s) => {
      const [from = -1, to = from] = s.split('-').map(Number);
      return [from, to];
    }),
  };
}

const field = (text: string, name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1]?.trim();

describe('the seeds handed to test files', () => {
  it('are also in process.env.REDIS_NODES, for code that reads its config from env', () => {
    expect(process.env.REDIS_NODES).toBe(redisNodes());
  });
});

// An external REDIS_NODES (Dragonfly, a bigger cluster) need not have this shape.
describe.skipIf(!isLocalCluster())('the local Redis Cluster the tests run against', () => {
  const nodes: Redis[] = [];
  let lines: NodeLine[] = [];
  let infos: string[] = [];

  beforeAll(async () => {
    for (const { host, port } of redisSeeds()) nodes.push(new Redis({ host, port, maxRetriesPerRequest: 1 }));
    lines = await Promise.all(nodes.map(async (n) => ownLine(String(await n.call('CLUSTER', 'NODES')))));
    infos = await Promise.all(nodes.map(async (n) => String(await n.call('CLUSTER', 'INFO'))));
  });

  afterAll(async () => {
    await Promise.allSettled(nodes.map((n) => n.quit()));
  });

  it('has six seeds, one per node', () => {
    expect(new Set(lines.map((l) => l.port)).size).toBe(6);
    expect(lines.map((l) => l.port)).toEqual(redisSeeds().map((s) => s.port));
  });

  it('has three masters that together own all 16384 slots exactly once', () => {
    const masters = lines.filter((l) => l.role === 'master');
    expect(masters).toHaveLength(3);
    const owned = masters.flatMap((m) => m.slots).sort(([a], [b]) => a - b);
    let next = 0;
    for (const [from, to] of owned) {
      expect(from).toBe(next);
      next = to + 1;
    }
    expect(next).toBe(16384);
  });

  it('has three replicas, one for each master, with their replication link up', async () => {
    const masterIds = lines.filter((l) => l.role === 'master').map((l) => l.id);
    const replicas = lines.filter((l) => l.role === 'replica');
    expect(replicas).toHaveLength(3);
    expect(replicas.map((r) => r.masterId).sort()).toEqual([...masterIds].sort());
    for (const replica of replicas) {
      const node = nodes[lines.indexOf(replica)]!;
      expect(field(String(await node.call('INFO', 'replication')), 'master_link_status')).toBe('up');
    }
  });

  it('reports cluster_state:ok with every slot assigned and ok on every node', () => {
    for (const info of infos) {
      expect(field(info, 'cluster_state')).toBe('ok');
      expect(field(info, 'cluster_slots_assigned')).toBe('16384');
      expect(field(info, 'cluster_slots_ok')).toBe('16384');
      expect(field(info, 'cluster_known_nodes')).toBe('6');
    }
  });

  it('serves writes and reads on every master through an ioredis Cluster built from the seeds', async () => {
    const cluster = new Cluster(redisSeeds(), { redisOptions: { maxRetriesPerRequest: null } });
    try {
      const keys = ['{a}', '{b}', '{c}', '{d}', '{e}', '{f}'].map(
        (tag) => `test:${tag}:${crypto.randomUUID()}`,
      );
      for (const key of keys) await cluster.set(key, key, 'PX', 60_000);
      expect(await Promise.all(keys.map((key) => cluster.get(key)))).toEqual(keys);
      const slots = await Promise.all(
        keys.map(async (key) => Number(await cluster.call('CLUSTER', 'KEYSLOT', key))),
      );
      const masters = lines.filter((l) => l.role === 'master');
      const owners = slots.map(
        (slot) => masters.find((m) => m.slots.some(([f, t]) => f <= slot && slot <= t))?.port,
      );
      expect(new Set(owners).size).toBe(3);
    } finally {
      cluster.disconnect();
    }
  });

  it('is described the same way by status() of the re-attached launcher handle', async () => {
    const status = await localTestCluster().status();
    expect(status.ok).toBe(true);
    expect(status.nodes.map((n) => n.port)).toEqual(lines.map((l) => l.port));
    expect(status.nodes.map((n) => n.role)).toEqual(lines.map((l) => l.role));
    expect(status.nodes.every((n) => n.pid !== null)).toBe(true);
  });
});
