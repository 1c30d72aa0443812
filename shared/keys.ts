// Key names: everything of one shard lives under that shard's hash tag, so it shares one slot.
import { shardOfOrderId } from './order-id.js';
import { shardTags } from './sharding.js';

/** The names of one shard's BullMQ queue and of the records kept beside it. */
export interface ShardKeys {
  shard: number;
  /** The hash tag text, without braces. */
  tag: string;
  /** BullMQ prefix: every queue key starts `<prefix>:<queueName>:`. */
  queuePrefix: string;
  /** Unique per shard so Bull Board and metrics can tell the queues apart. */
  queueName: string;
  /** A key of the shard's BullMQ queue: `<queuePrefix>:<queueName>:<suffix>` (`wait`, a job id, …). */
  queueKey(suffix: string): string;
  order(orderId: string): string;
  userIndex(userId: string): string;
  idempotency(userId: string, key: string): string;
  /** A client order id's binding to the order (and request hash) it names, per user. */
  clientOrder(userId: string, clientOrderId: string): string;
  /** The BullMQ lock of a job: fenced writes check its token. */
  jobLock(jobId: string): string;
  /** The order's event stream (a capped Redis Stream), appended by the scripts that change the record. */
  orderEvents(orderId: string): string;
}

const segment = (text: string) => encodeURIComponent(text);

/** The keys of `shard` out of `shards`, under `namespace` (one deployment's keys on a shared store). */
export function shardKeys(shard: number, shards: number, namespace = 'of'): ShardKeys {
  const tag = shardTags(shards)[shard];
  if (tag === undefined) throw new RangeError(`shard ${shard} is outside 0..${shards - 1}`);
  const base = `${namespace}:{${tag}}`;
  const queueName = `steps-s${String(shard).padStart(2, '0')}`;
  const queueKey = (suffix: string) => `${base}:${queueName}:${suffix}`;
  return {
    shard,
    tag,
    queuePrefix: base,
    queueName,
    queueKey,
    order: (orderId) => `${base}:order:${orderId}`,
    userIndex: (userId) => `${base}:user:${segment(userId)}`,
    idempotency: (userId, key) => `${base}:idem:${segment(userId)}:${segment(key)}`,
    clientOrder: (userId, clientOrderId) => `${base}:cid:${segment(userId)}:${segment(clientOrderId)}`,
    jobLock: (jobId) => queueKey(`${jobId}:lock`),
    orderEvents: (orderId) => `${base}:events:${orderId}`,
  };
}

/** The keys of every shard, index = shard. */
export function allShardKeys(shards: number, namespace = 'of'): ShardKeys[] {
  return Array.from({ length: shards }, (_, shard) => shardKeys(shard, shards, namespace));
}

/**
 * The node registry's keys. All share the `{registry}` hash tag: a node's beat, the verdict on the
 * others and a claim on a dead one's cleanup each run as one script in that one slot.
 */
export interface RegistryKeys {
  ids: string;
  drains: string;
  node(id: string): string;
  /** Sorted set: live node instances, scored by their last liveness beat (the store's clock, ms). */
  beats: string;
  /** Hash: instance → the connection name it uses, for CLIENT LIST. */
  connections: string;
  /** Hash: the last beat of any node, and until when no node may be judged dead (after a silence). */
  beatClock: string;
  /** A survivor's claim on the cleanup of the dead instance `instance`. */
  takeoverClaim(instance: string): string;
  /** A node's metrics document (JSON), expiring with its registry entry. */
  metrics(nodeId: string): string;
  /** Cluster-wide activity: totals, the last failed orders, and counts per time bucket. */
  activityTotals: string;
  activityFailures: string;
  activityBucket(start: number): string;
}

export function registryKeys(namespace = 'of'): RegistryKeys {
  const base = `${namespace}:{registry}`;
  return {
    ids: `${base}:ids`,
    drains: `${base}:drain`,
    node: (id) => `${base}:node:${id}`,
    beats: `${base}:beats`,
    connections: `${base}:conns`,
    beatClock: `${base}:beat-clock`,
    takeoverClaim: (instance) => `${base}:takeover:${instance}`,
    metrics: (nodeId) => `${base}:metrics:${nodeId}`,
    activityTotals: `${base}:activity:totals`,
    activityFailures: `${base}:activity:failed`,
    activityBucket: (start) => `${base}:activity:bucket:${start}`,
  };
}

/** Every shard's keys of one deployment, built once. */
export interface Keyspace {
  namespace: string;
  shards: number;
  /** The keys of shard `k`; throws RangeError outside 0..shards-1. */
  shard(k: number): ShardKeys;
  all(): readonly ShardKeys[];
  /** The keys of the shard an order id names, or null for a malformed id. */
  ofOrder(orderId: string): ShardKeys | null;
}

/** The keyspace of `shards` shards under `namespace`. */
export function createKeyspace(shards: number, namespace = 'of'): Keyspace {
  const all = allShardKeys(shards, namespace);
  return {
    namespace,
    shards,
    shard(k) {
      const keys = all[k];
      if (!keys) throw new RangeError(`shard ${k} is outside 0..${shards - 1}`);
      return keys;
    },
    all: () => all,
    ofOrder(orderId) {
      const shard = shardOfOrderId(orderId, shards);
      return shard === null ? null : all[shard]!;
    },
  };
}
