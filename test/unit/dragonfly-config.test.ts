// The DFLYCLUSTER CONFIG builder: a valid slot map for Dragonfly, with every shard on its intended node.
import { describe, expect, it } from 'vitest';
import {
  buildClusterConfig,
  ClusterConfigError,
  type DragonflyClusterConfig,
  nodeOfShard,
  ownerOfSlot,
} from '../../scripts/dragonfly-config.js';
import { keySlot, SLOT_COUNT, shardTags } from '../../shared/sharding.js';

const nodesOf = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    id: `orderflow-df-${i + 1}`,
    ip: `dragonfly-${i + 1}`,
    port: 6379,
  }));

/** How often each slot is owned: Dragonfly rejects a config unless every slot is owned exactly once. */
function slotCoverage(config: DragonflyClusterConfig): Uint8Array {
  const owned = new Uint8Array(SLOT_COUNT);
  for (const shard of config) {
    for (const { start, end } of shard.slot_ranges) {
      expect(start).toBeLessThanOrEqual(end);
      for (let slot = start; slot <= end; slot++) owned[slot]! += 1;
    }
  }
  return owned;
}

describe('buildClusterConfig', () => {
  for (const [nodes, shards] of [
    [3, 12],
    [1, 12],
    [2, 12],
    [4, 12],
    [5, 12],
    [3, 8],
    [3, 1],
    [6, 4],
    [3, 256],
  ] as const) {
    describe(`with ${nodes} node(s) and ${shards} shard(s)`, () => {
      const config = buildClusterConfig({ nodes: nodesOf(nodes), shards });

      it('covers every slot from 0 to 16383 exactly once', () => {
        const owned = slotCoverage(config);
        expect(owned.every((count) => count === 1)).toBe(true);
      });

      it('puts the slot of shard k on node floor(k * nodes / shards)', () => {
        shardTags(shards).forEach((tag, k) => {
          expect(ownerOfSlot(config, keySlot(`{${tag}}`)), `shard ${k} (${tag})`).toBe(
            nodeOfShard(k, shards, nodes),
          );
        });
      });

      it('lists the nodes in order as masters without replicas', () => {
        expect(config.map((s) => s.master)).toEqual(nodesOf(nodes));
        expect(config.every((s) => s.replicas.length === 0)).toBe(true);
      });
    });
  }

  it('gives each of 3 nodes 4 of 12 shards and about a third of the slots', () => {
    const config = buildClusterConfig({ nodes: nodesOf(3), shards: 12 });
    const perNode = [0, 0, 0];
    for (const tag of shardTags(12)) perNode[ownerOfSlot(config, keySlot(`{${tag}}`))]! += 1;
    expect(perNode).toEqual([4, 4, 4]);
    for (const shard of config) {
      const size = shard.slot_ranges.reduce((sum, r) => sum + r.end - r.start + 1, 0);
      expect(Math.abs(size - SLOT_COUNT / 3)).toBeLessThan(2);
    }
  });

  it('serialises to the JSON shape DFLYCLUSTER CONFIG reads', () => {
    const [first] = JSON.parse(JSON.stringify(buildClusterConfig({ nodes: nodesOf(2), shards: 12 })));
    expect(first).toEqual({
      slot_ranges: [{ start: 0, end: expect.any(Number) }],
      master: { id: 'orderflow-df-1', ip: 'dragonfly-1', port: 6379 },
      replicas: [],
    });
  });

  it('refuses no nodes, duplicate ids and a shard count below 1', () => {
    expect(() => buildClusterConfig({ nodes: [], shards: 12 })).toThrow(ClusterConfigError);
    const twice = [nodesOf(1)[0]!, nodesOf(1)[0]!];
    expect(() => buildClusterConfig({ nodes: twice, shards: 12 })).toThrow(/unique/);
    expect(() => buildClusterConfig({ nodes: nodesOf(3), shards: 0 })).toThrow(ClusterConfigError);
  });
});
