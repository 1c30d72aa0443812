// The local Redis Cluster the suite runs against: 3 masters owning every slot, 3 synced replicas;
// and the test system's promise to leave it clean.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatedHandlers } from '../workers/steps/simulated.js';
import { isLocalCluster, localTestCluster, redisSeeds } from './support/cluster.js';
import { failingAt } from './support/step-handlers.js';
import { createTestSystem } from './support/system.js';

const root = fileURLToPath(new URL('..', import.meta.url));

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

/** The node ids a node knows in its cluster, with the port each one listens on. */
async function clusterMembers(node: Redis): Promise<Map<string, number>> {
  const text = String(await node.call('CLUSTER', 'NODES'));
  const members = new Map<string, number>();
  for (const line of text.trim().split('\n')) {
    const [id = '', address = ''] = line.split(' ');
    members.set(id, Number(address.split('@')[0]?.split(':').pop()));
  }
  return members;
}

/**
 * Runs `code` (an ES module, TypeScript through tsx) in a child process that inherits this
 * process's environment, as `npm run server` and the spawned workers of the tests do; resolves
 * with its stdout. A child that cannot reach a store retries forever, so it is killed after `timeoutMs`.
 */
function runChild(code: string, env: Record<string, string>, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`child exited ${code ?? signal}: ${err.trim()}`));
    });
  });
}

describe('the seeds handed to test files', () => {
  it('each answer PING and are nodes of one cluster that lists every one of them', async () => {
    const seeds = redisSeeds().map(({ host, port }) => new Redis({ host, port, maxRetriesPerRequest: 1 }));
    try {
      expect(await Promise.all(seeds.map((seed) => seed.ping()))).toEqual(seeds.map(() => 'PONG'));
      const views = await Promise.all(seeds.map(clusterMembers));
      const ids = views.map((members) => [...members.keys()].sort());
      // Every seed sees the same set of nodes: one cluster, not several clusters on nearby ports.
      for (const view of ids) expect(view).toEqual(ids[0]);
      const byNumber = (a: number, b: number) => a - b;
      const ports = [...views[0]!.values()].sort(byNumber);
      const seedPorts = redisSeeds()
        .map((s) => s.port)
        .sort(byNumber);
      expect(ports).toEqual(expect.arrayContaining(seedPorts));
      // The cluster the setup started has no node beyond its seeds (an external one may).
      if (isLocalCluster()) expect(ports).toEqual(seedPorts);
    } finally {
      for (const seed of seeds) seed.disconnect();
    }
  });

  it('reach that cluster from a child process that reads REDIS_NODES from its environment', async () => {
    // The child writes a key named by the parent through the product's own config and store; the
    // parent finds it through the injected seeds only if both name the same cluster.
    const key = `test:{local-cluster}:${randomUUID()}`;
    const code = `
      import { loadConfig } from './shared/config.js';
      import { createStore } from './shared/store.js';
      const store = createStore(loadConfig(process.env));
      await store.set(process.env.CHILD_KEY, String(process.pid), 'PX', 60000);
      await store.quit();
      process.stdout.write(String(process.pid));
    `;
    const cluster = new Cluster(redisSeeds());
    try {
      const pid = await runChild(code, { CHILD_KEY: key, LOG_LEVEL: 'silent' });
      expect(pid).toMatch(/^\d+$/);
      expect(pid).not.toBe(String(process.pid));
      expect(await cluster.get(key)).toBe(pid);
    } finally {
      await cluster.unlink(key);
      await cluster.quit();
    }
  });
});

/** Every key of `namespace` on every master, by KEYS: another way than the SCAN close() uses. */
async function keysOf(cluster: Cluster, namespace: string): Promise<string[]> {
  const keys = await Promise.all(cluster.nodes('master').map((node) => node.keys(`${namespace}:*`)));
  return keys.flat().sort();
}

describe('a test system, once closed', () => {
  it('leaves no key of its namespace on any master, and the keys of other namespaces alone', async () => {
    const closing = createTestSystem();
    const staying = createTestSystem();
    const cluster = new Cluster(redisSeeds());
    try {
      const failAt = (order: { user_id: string }) => (order.user_id === 'cleanup-bad' ? 'processing' : null);
      closing.startNode({}, { handlers: failingAt(failAt, simulatedHandlers(closing.config)) });
      const placed = await Promise.all([
        closing.place({ user_id: 'cleanup-ok' }, { 'idempotency-key': 'cleanup-key' }),
        closing.place({ user_id: 'cleanup-bad' }),
      ]);
      const orders = await Promise.all(placed.map((p) => closing.waitForTerminal(p.body.order_id)));
      expect(orders.map((o) => o.status)).toEqual(['completed', 'failed']);
      expect((await staying.place({ user_id: 'cleanup-other' })).status).toBe(202);
      await cluster.ping();

      const ns = closing.config.KEY_NAMESPACE;
      const written = await keysOf(cluster, ns);
      // What there was to delete: records, indexes, the idempotency key, BullMQ's keys, the registry.
      for (const part of [':order:', ':user:', ':idem:', ':steps-s', ':{registry}:']) {
        expect(
          written.filter((key) => key.includes(part)),
          part,
        ).not.toEqual([]);
      }
      const others = await keysOf(cluster, staying.config.KEY_NAMESPACE);
      expect(others.length).toBeGreaterThan(0);

      await closing.close();
      expect(await keysOf(cluster, ns)).toEqual([]);
      expect(await keysOf(cluster, staying.config.KEY_NAMESPACE)).toEqual(others);

      await staying.close();
      expect(await keysOf(cluster, staying.config.KEY_NAMESPACE)).toEqual([]);
    } finally {
      await Promise.allSettled([closing.close(), staying.close()]);
      await cluster.quit();
    }
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
    expect(infos).toHaveLength(6);
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
      for (const key of keys) await cluster.unlink(key);
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
