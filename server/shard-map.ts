// Where each shard lives: its slot, the store master that owns the slot now, and its queue's backlog.
import type { Queue } from 'bullmq';
import type { Keyspace } from '../shared/keys.js';
import { keySlot } from '../shared/sharding.js';
import { type Store, withTimeout } from '../shared/store.js';

export interface ShardQueueCounts {
  shard: number;
  queue: string;
  /** Steps waiting for a node: the backlog. */
  waiting: number;
  active: number;
  /** Steps waiting to be retried after an infrastructure error. */
  delayed: number;
}

export interface ShardPlacement extends ShardQueueCounts {
  tag: string;
  slot: number;
  /** `host:port` of the master that owns the slot, or null when no node serves it. */
  master: string | null;
  master_id: string | null;
  replicas: string[];
}

interface SlotRange {
  start: number;
  end: number;
  master: string;
  masterId: string | null;
  replicas: string[];
}

type SlotNode = [string, number, string?, ...unknown[]];
type SlotsReply = Array<[number, number, SlotNode, ...SlotNode[]]>;

/** The slot ranges as the store reports them now (CLUSTER SLOTS), not as a client cached them. */
async function slotRanges(store: Store): Promise<SlotRange[]> {
  try {
    const reply = (await withTimeout(store.call('CLUSTER', 'SLOTS'), 1000, 'cluster slots')) as SlotsReply;
    return reply.map(([start, end, master, ...replicas]) => ({
      start,
      end,
      master: `${master[0]}:${master[1]}`,
      masterId: master[2] ?? null,
      replicas: replicas.map((r) => `${r[0]}:${r[1]}`),
    }));
  } catch (error) {
    // A plain (non-cluster) node refuses CLUSTER SLOTS: it owns every slot itself.
    if ('nodes' in store) throw error;
    const { host, port } = store.options;
    return [{ start: 0, end: 16383, master: `${host}:${port}`, masterId: null, replicas: [] }];
  }
}

/** Waiting, active and delayed steps of every shard's queue, read in parallel. */
export async function shardQueueCounts(queues: readonly Queue[]): Promise<ShardQueueCounts[]> {
  return Promise.all(
    queues.map(async (queue, shard) => {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed');
      return {
        shard,
        queue: queue.name,
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
      };
    }),
  );
}

/** Every shard with the master that owns its slot and its queue's counts. */
export async function readShardMap(
  store: Store,
  keyspace: Keyspace,
  queues: readonly Queue[],
): Promise<ShardPlacement[]> {
  const [ranges, counts] = await Promise.all([slotRanges(store), shardQueueCounts(queues)]);
  return keyspace.all().map((keys) => {
    const slot = keySlot(`{${keys.tag}}`);
    const range = ranges.find((r) => r.start <= slot && slot <= r.end);
    return {
      ...counts[keys.shard]!,
      tag: keys.tag,
      slot,
      master: range?.master ?? null,
      master_id: range?.masterId ?? null,
      replicas: range?.replicas ?? [],
    };
  });
}
