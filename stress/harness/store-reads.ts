// What benchmarks read straight from the store: order records by id, queue counts, memory, pause/resume.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { LocalCluster } from '../../scripts/local-cluster.js';
import type { OrderRecord } from '../../shared/domain/order.js';
import type { Keyspace } from '../../shared/keys.js';
import { keySlot } from '../../shared/sharding.js';
import type { Store } from '../../shared/store.js';

/** The records of `ids`, one pipeline per shard; ids without a record are counted as missing. */
export async function readRecords(
  store: Store,
  keyspace: Keyspace,
  ids: readonly string[],
): Promise<{ orders: OrderRecord[]; missing: string[] }> {
  const byShard = new Map<number, string[]>();
  for (const id of ids) {
    const keys = keyspace.ofOrder(id);
    if (!keys) continue;
    byShard.set(keys.shard, [...(byShard.get(keys.shard) ?? []), id]);
  }
  const orders: OrderRecord[] = [];
  const missing: string[] = [];
  await Promise.all(
    [...byShard].map(async ([shard, shardIds]) => {
      const keys = keyspace.shard(shard);
      // Batches of 500 keep one reply from holding a master up.
      for (let i = 0; i < shardIds.length; i += 500) {
        const batch = shardIds.slice(i, i + 500);
        const pipeline = store.pipeline();
        for (const id of batch) pipeline.hget(keys.order(id), 'doc');
        const replies = (await pipeline.exec()) ?? [];
        replies.forEach(([error, doc], j) => {
          if (error) throw error;
          if (typeof doc === 'string') orders.push(JSON.parse(doc) as OrderRecord);
          else missing.push(batch[j]!);
        });
      }
    }),
  );
  return { orders, missing };
}

/** Jobs in every shard's completed set (kept up to 10,000 per queue, an hour: enough for a benchmark). */
export async function completedJobs(store: Store, keyspace: Keyspace): Promise<number> {
  const counts = await Promise.all(keyspace.all().map((k) => store.zcard(k.queueKey('completed'))));
  return counts.reduce((a, b) => a + b, 0);
}

/** Steps waiting to run over every shard (the wait lists, as the API's backlog counts them). */
export async function waitingSteps(store: Store, keyspace: Keyspace): Promise<number> {
  const counts = await Promise.all(keyspace.all().map((k) => store.llen(k.queueKey('wait'))));
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Pauses or resumes every shard queue of `keyspace`. Used to load a backlog first and then let all
 * nodes start on it at once, so start-up does not count as processing time.
 */
export async function setQueuesPaused(store: Store, keyspace: Keyspace, paused: boolean): Promise<void> {
  const queues = keyspace
    .all()
    .map((k) => new Queue(k.queueName, { connection: store, prefix: k.queuePrefix }));
  try {
    await Promise.all(queues.map((q) => (paused ? q.pause() : q.resume())));
  } finally {
    await Promise.allSettled(queues.map((q) => q.close()));
  }
}

/** Runs `fn` on a plain connection to each master of the local cluster, in parallel. */
export async function onMasters<T>(
  cluster: LocalCluster,
  fn: (redis: Redis, port: number) => Promise<T>,
): Promise<T[]> {
  const status = await cluster.status();
  const masters = status.nodes.filter((n) => n.role === 'master' && n.answering);
  return Promise.all(
    masters.map(async ({ port }) => {
      const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        return await fn(redis, port);
      } finally {
        redis.disconnect();
      }
    }),
  );
}

/**
 * Memory of the masters, summed (replicas hold a copy each; not counted): `used_memory`, and
 * `dataset.bytes` of MEMORY STATS, which leaves out the server's own overhead (replication backlog,
 * client buffers, the AOF buffer) that moves with load rather than with the data kept.
 */
export async function mastersMemory(cluster: LocalCluster): Promise<{ used: number; dataset: number }> {
  const values = await onMasters(cluster, async (redis) => {
    const info = await redis.info('memory');
    const stats = (await redis.call('MEMORY', 'STATS')) as unknown[];
    const at = stats.indexOf('dataset.bytes');
    return {
      used: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0),
      dataset: at === -1 ? 0 : Number(stats[at + 1]),
    };
  });
  return values.reduce((a, b) => ({ used: a.used + b.used, dataset: a.dataset + b.dataset }), {
    used: 0,
    dataset: 0,
  });
}

/** CPU seconds (user + sys) the masters have used so far, summed: a delta tells a run's cost to the store. */
export async function mastersCpuSeconds(cluster: LocalCluster): Promise<number> {
  const values = await onMasters(cluster, async (redis) => {
    const info = await redis.info('cpu');
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return field('used_cpu_user') + field('used_cpu_sys');
  });
  return values.reduce((a, b) => a + b, 0);
}

/** The master port serving each shard, index = shard. */
export async function shardMasters(cluster: LocalCluster, keyspace: Keyspace): Promise<number[]> {
  const { nodes } = await cluster.status();
  return keyspace.all().map((k) => {
    const slot = keySlot(`{${k.tag}}`);
    const owner = nodes.find(
      (n) => n.role === 'master' && n.slots.some(([from, to]) => slot >= from && slot <= to),
    );
    return owner?.port ?? -1;
  });
}

/** Calls and microseconds of one store command, summed over the masters. */
export interface CommandCost {
  calls: number;
  usec: number;
}

/**
 * INFO commandstats of the masters, summed per command (`evalsha`, `hmget`, …); a delta over a run
 * shows where the store's time went. Scripts count under `evalsha`, whichever script it was.
 */
export async function mastersCommandStats(cluster: LocalCluster): Promise<Map<string, CommandCost>> {
  return sumCommandStats(await onMasters(cluster, (redis) => redis.info('commandstats')));
}

/** INFO commandstats texts (one per master) summed per command. */
export function sumCommandStats(perMaster: string[]): Map<string, CommandCost> {
  const total = new Map<string, CommandCost>();
  for (const info of perMaster) {
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
      const cost = total.get(match[1]!) ?? { calls: 0, usec: 0 };
      cost.calls += Number(match[2]);
      cost.usec += Number(match[3]);
      total.set(match[1]!, cost);
    }
  }
  return total;
}

/** What each command cost between two `mastersCommandStats` readings, costliest first. */
export function commandCostDelta(
  before: Map<string, CommandCost>,
  after: Map<string, CommandCost>,
): Array<{ command: string } & CommandCost> {
  return [...after]
    .map(([command, cost]) => ({
      command,
      calls: cost.calls - (before.get(command)?.calls ?? 0),
      usec: cost.usec - (before.get(command)?.usec ?? 0),
    }))
    .filter((c) => c.calls > 0)
    .sort((a, b) => b.usec - a.usec);
}
