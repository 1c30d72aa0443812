// The worker node registry: each node heartbeats its stats to a key with a TTL; drains are requested here.
import type { Store } from './store.js';

/** What a worker node reports about itself on every heartbeat. */
export interface NodeStats {
  id: string;
  host: string;
  pid: number;
  version: string;
  concurrency: number;
  /** What the node's steps take and how often they fail (its STEP_MS and STEP_FAILURE_RATE). */
  step_ms: number;
  step_failure_rate: number;
  active: number;
  processed: number;
  failed: number;
  stalled_recovered: number;
  lock_lost: number;
  state: 'running' | 'draining';
  /** The node's own verdict on the store: false while its watchdog has paused it. */
  store_ok: boolean;
  started_at: string;
  last_seen: string;
}

export interface NodeRegistryOptions {
  /** A node missing this long is gone: its key expires. Heartbeat at most a third of it. */
  ttlMs?: number;
}

/** One run of a node: its id can outlive it (a restart keeps NODE_ID), its pid and start time cannot. */
const instanceOf = (stats: Pick<NodeStats, 'pid' | 'started_at'>) => `${stats.pid}@${stats.started_at}`;

const DELETE_IF_EQUAL = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`;

/**
 * The registry of one namespace. Every key shares the `{registry}` hash tag, so the node keys, the
 * id set and the drain requests sit in one slot and are read in one round trip.
 */
export function createNodeRegistry(
  store: Store,
  namespace: string,
  { ttlMs = 5000 }: NodeRegistryOptions = {},
) {
  const base = `${namespace}:{registry}`;
  const ids = `${base}:ids`;
  const drains = `${base}:drain`;
  const nodeKey = (id: string) => `${base}:node:${id}`;

  async function list(): Promise<NodeStats[]> {
    const members = await store.smembers(ids);
    if (members.length === 0) return [];
    const docs = await store.mget(members.map(nodeKey));
    const gone = members.filter((_, i) => docs[i] === null);
    if (gone.length > 0) await store.srem(ids, ...gone);
    return docs
      .filter((doc): doc is string => doc !== null)
      .map((doc) => JSON.parse(doc) as NodeStats)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  return {
    ttlMs,

    /**
     * Publishes `stats` and tells whether an operator asked this node instance to drain. A request
     * made of an earlier instance under the same id (one that died before it could leave) is not
     * this one's: a supervisor that restarts a crashed node must not see it drain at once. Such a
     * stale request is removed.
     */
    async heartbeat(stats: NodeStats): Promise<{ drainRequested: boolean }> {
      const results = await store
        .multi()
        .set(nodeKey(stats.id), JSON.stringify(stats), 'PX', ttlMs)
        .sadd(ids, stats.id)
        .hget(drains, stats.id)
        .exec();
      const drain = results?.[2]?.[1];
      if (typeof drain !== 'string') return { drainRequested: false };
      if (drain === instanceOf(stats)) return { drainRequested: true };
      // Removed only if unchanged, so a request made of this instance meanwhile is kept.
      await store.eval(DELETE_IF_EQUAL, 1, drains, stats.id, drain);
      return { drainRequested: false };
    },

    /** Live nodes, by id. */
    list,

    async get(id: string): Promise<NodeStats | null> {
      const doc = await store.get(nodeKey(id));
      return doc ? (JSON.parse(doc) as NodeStats) : null;
    },

    /** Asks the live instance of node `id` to drain; false when no such node is alive. */
    async requestDrain(id: string): Promise<boolean> {
      const doc = await store.get(nodeKey(id));
      if (doc === null) return false;
      await store.hset(drains, id, instanceOf(JSON.parse(doc) as NodeStats));
      return true;
    },

    /** Removes a node that is leaving, and its drain request. */
    async deregister(id: string): Promise<void> {
      await store.multi().del(nodeKey(id)).srem(ids, id).hdel(drains, id).exec();
    },
  };
}

export type NodeRegistry = ReturnType<typeof createNodeRegistry>;
