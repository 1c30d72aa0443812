// The DFLYCLUSTER CONFIG of a Dragonfly cluster: every slot once, each shard's slot on its intended node.
import { keySlot, SLOT_COUNT, shardTags } from '../shared/sharding.js';

/** A master as Dragonfly's cluster config names it: `id` is its --cluster_node_id, ip:port what clients dial. */
export interface DragonflyNode {
  id: string;
  /** The address clients are sent to (CLUSTER SLOTS, MOVED): an IP or a host name they resolve. */
  ip: string;
  port: number;
}

export interface SlotRange {
  start: number;
  end: number;
}

/** One entry of the config array: Dragonfly's field names, so it serialises as is. */
export interface DragonflyShardConfig {
  slot_ranges: SlotRange[];
  master: DragonflyNode;
  replicas: DragonflyNode[];
}

export type DragonflyClusterConfig = DragonflyShardConfig[];

/** The nodes or the shard count cannot make a valid config. */
export class ClusterConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** The node (index into the node list) that owns shard `shard` of `shards` when `nodes` masters share them. */
export function nodeOfShard(shard: number, shards: number, nodes: number): number {
  return Math.floor((shard * nodes) / shards);
}

/**
 * The config for `nodes` masters (in order) and `shards` virtual shards. Node j owns one contiguous
 * slot range, as close to the j-th of equal ranges as the shards allow: its boundaries are moved only
 * where needed so that shard k's slot (CRC16 of its hash tag) lands on node floor(k * nodes / shards).
 * A node left without a shard may get an empty range, which Dragonfly accepts.
 */
export function buildClusterConfig({
  nodes,
  shards,
}: {
  nodes: readonly DragonflyNode[];
  shards: number;
}): DragonflyClusterConfig {
  if (nodes.length === 0) throw new ClusterConfigError('a Dragonfly cluster needs at least one node');
  if (!Number.isInteger(shards) || shards < 1) throw new ClusterConfigError(`SHARDS ${shards} is not >= 1`);
  const ids = new Set(nodes.map((n) => n.id));
  if (ids.size !== nodes.length || ids.has('')) {
    throw new ClusterConfigError('node ids must be non-empty and unique (Dragonfly rejects duplicates)');
  }

  const shardSlots = shardTags(shards).map((tag) => keySlot(`{${tag}}`));
  const owner = (k: number) => nodeOfShard(k, shards, nodes.length);
  // starts[j] is node j's first slot; starts[nodes.length] closes the last range.
  const starts = [0];
  for (let j = 1; j < nodes.length; j++) {
    const before = shardSlots.filter((_, k) => owner(k) < j);
    const after = shardSlots.filter((_, k) => owner(k) >= j);
    const lowest = before.length > 0 ? Math.max(...before) + 1 : 0;
    const highest = after.length > 0 ? Math.min(...after) : SLOT_COUNT;
    if (lowest > highest) {
      throw new ClusterConfigError(
        `shard slots are out of order around node ${j}: no contiguous split exists`,
      );
    }
    const even = Math.floor((j * SLOT_COUNT) / nodes.length);
    starts.push(Math.max(starts[j - 1]!, Math.min(Math.max(even, lowest), highest)));
  }
  starts.push(SLOT_COUNT);

  return nodes.map((node, j) => {
    const [start, next] = [starts[j]!, starts[j + 1]!];
    return {
      slot_ranges: next > start ? [{ start, end: next - 1 }] : [],
      master: { id: node.id, ip: node.ip, port: node.port },
      replicas: [],
    };
  });
}

/** The index of the shard config that owns `slot`, or -1. */
export function ownerOfSlot(config: DragonflyClusterConfig, slot: number): number {
  return config.findIndex((shard) => shard.slot_ranges.some((r) => slot >= r.start && slot <= r.end));
}
