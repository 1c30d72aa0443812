// The worker node registry: each node heartbeats its stats to a key with a TTL; drains are requested
// here; and, for takeover on death, each node instance beats its liveness and learns who fell silent.
import { registryKeys } from './keys.js';
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

/** Heartbeats a node may miss before its registry entry (and its metrics document) expires. */
export const MISSED_BEATS = 5;

/** How long a node's registry entry lives after its last heartbeat, for a heartbeat every `heartbeatMs`. */
export const registryTtlMs = (heartbeatMs: number) => MISSED_BEATS * heartbeatMs;

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
  const { ids, drains, node: nodeKey } = registryKeys(namespace);

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

// The store's clock, not the nodes': a verdict never depends on two hosts' clocks agreeing. A gap in
// everyone's beats longer than ARGV[4] means the registry itself was out of reach (a failover, an
// outage): then nobody is judged for ARGV[5] ms, so that the live nodes can beat again first.
// KEYS: beats, connections, beat clock, claim on this instance. ARGV: instance, connection name,
// suspect after (ms), silence (ms), quiet (ms).
const BEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local clock = redis.call('HMGET', KEYS[3], 'last', 'quiet')
local quiet = tonumber(clock[2]) or 0
if clock[1] and now - tonumber(clock[1]) > tonumber(ARGV[4]) then quiet = now + tonumber(ARGV[5]) end
redis.call('HSET', KEYS[3], 'last', string.format('%.0f', now), 'quiet', string.format('%.0f', quiet))
local joined = redis.call('ZADD', KEYS[1], now, ARGV[1])
if joined == 1 and ARGV[2] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
local claimedBy = redis.call('GET', KEYS[4]) or ''
-- Back after its cleanup forgot it: alive again, so a later death needs a claim of its own.
if joined == 1 and claimedBy ~= '' then redis.call('DEL', KEYS[4]) end
local stale = {}
if now >= quiet then
  local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]), 'WITHSCORES')
  for i = 1, #found, 2 do
    table.insert(stale, {found[i], found[i + 1], redis.call('HGET', KEYS[2], found[i]) or ''})
  end
end
return {string.format('%.0f', now), claimedBy, stale}`;

// Claims the cleanup only if the instance has not beaten since the caller saw it silent: a node
// that woke up meanwhile is alive again. KEYS: beats, claim. ARGV: instance, score seen, claimer, ttl.
const CLAIM = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then return 1 end
return 0`;

// Forgets an instance, unless it beat again since (ARGV[2] the score seen; '' forgets it anyway).
const FORGET = `
if ARGV[2] ~= '' and redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])`;

/** A node instance that has not beaten for `ageMs`; `lastBeat` is its score, as the store spells it. */
export interface SilentInstance {
  instance: string;
  lastBeat: string;
  ageMs: number;
  /** Its connection name ('' when it has none), to look for in CLIENT LIST. */
  connection: string;
}

export interface BeatOptions {
  /** Instances silent this long are returned. */
  suspectMs: number;
  /** A silence of every node this long means the registry was unreachable... */
  silenceMs: number;
  /** ...and then nobody is returned as silent for this long. */
  quietMs: number;
}

type Script = (...args: Array<string | number>) => Promise<unknown>;

/** Liveness of node instances (`<NODE_ID>@<random>`: one run of a node), for takeover on death. */
export function createLiveness(store: Store, namespace: string) {
  const keys = registryKeys(namespace);
  store.defineCommand('ofLivenessBeat', { numberOfKeys: 4, lua: BEAT });
  store.defineCommand('ofTakeoverClaim', { numberOfKeys: 2, lua: CLAIM });
  store.defineCommand('ofLivenessForget', { numberOfKeys: 2, lua: FORGET });
  type Name = 'ofLivenessBeat' | 'ofTakeoverClaim' | 'ofLivenessForget';
  const scripts = store as unknown as Record<Name, Script>;

  return {
    /**
     * Records that `instance` is alive now and returns the instances silent for `suspectMs` (none
     * while the registry is recovering from a silence), and who claimed this instance's cleanup,
     * if anyone did: another node took it for dead.
     */
    async beat(instance: string, connection: string, o: BeatOptions) {
      const { beats, connections, beatClock } = keys;
      const [now, claimedBy, stale] = (await scripts.ofLivenessBeat(
        ...[beats, connections, beatClock, keys.takeoverClaim(instance), instance, connection],
        ...[o.suspectMs, o.silenceMs, o.quietMs],
      )) as [string, string, [string, string, string][]];
      const silent = stale
        .filter(([other]) => other !== instance)
        .map(([other, lastBeat, conn]): SilentInstance => {
          const ageMs = Number(now) - Number(lastBeat);
          return { instance: other, lastBeat, ageMs, connection: conn };
        });
      return { silent, claimedBy: claimedBy || null };
    },

    /** Claims the cleanup of a silent instance; false if another node has, or it beat again. */
    async claim(silent: SilentInstance, claimer: string, ttlMs: number): Promise<boolean> {
      const args = [silent.instance, silent.lastBeat, claimer, ttlMs];
      return (await scripts.ofTakeoverClaim(keys.beats, keys.takeoverClaim(silent.instance), ...args)) === 1;
    },

    /** Forgets a dead instance once cleaned up (kept if it beat again), or a leaving one (`lastBeat` ''). */
    async forget(instance: string, lastBeat = ''): Promise<void> {
      await scripts.ofLivenessForget(keys.beats, keys.connections, instance, lastBeat);
    },
  };
}

export type Liveness = ReturnType<typeof createLiveness>;
