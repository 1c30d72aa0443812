// Sharding on the real cluster: shard tags spread evenly over the masters; a user's keys share one slot.
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyspace } from '../../shared/keys.js';
import { shardOf } from '../../shared/sharding.js';
import { waitForStore } from '../../shared/store.js';
import { redisSeeds } from '../support/cluster.js';

const cluster = new Cluster(redisSeeds());
// The first commands may race ioredis' initial slot refresh, which replaces the seed connections.
beforeAll(() => waitForStore(cluster));
afterAll(() => cluster.quit());

/** Master address of every slot, from CLUSTER SLOTS as the store reports it. */
async function slotOwners(): Promise<Map<number, string>> {
  const ranges = (await cluster.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
  const owners = new Map<number, string>();
  for (const [low, high, [host, port]] of ranges)
    for (let s = low; s <= high; s++) owners.set(s, `${host}:${port}`);
  return owners;
}

describe('with SHARDS=12 on 3 masters', () => {
  it('gives each master exactly 4 shards', async () => {
    const keyspace = createKeyspace(12);
    const owners = await slotOwners();
    const perMaster = new Map<string, number>();
    for (const keys of keyspace.all()) {
      const slot = Number(await cluster.cluster('KEYSLOT', `${keys.queuePrefix}:${keys.queueName}:wait`));
      const master = owners.get(slot)!;
      perMaster.set(master, (perMaster.get(master) ?? 0) + 1);
    }
    expect(perMaster.size).toBe(3);
    expect([...perMaster.values()]).toEqual([4, 4, 4]);
  });
});

describe("a user's keys", () => {
  it('all land in the slot of the user shard, as the store computes it', async () => {
    const keyspace = createKeyspace(12);
    for (const user of ['alice', 'bob:with:colons', 'carol{braces}', 'dave with spaces']) {
      const keys = keyspace.shard(shardOf(user, 12));
      const orderId = `${keys.shard}-01M80JV79NTQ7XXBSS5QWYK3Y1`;
      const names = [
        keys.order(orderId),
        keys.userIndex(user),
        keys.idempotency(user, 'key-1'),
        keys.jobLock(`${orderId}.scheduling`),
        `${keys.queuePrefix}:${keys.queueName}:wait`,
        `${keys.queuePrefix}:${keys.queueName}:${orderId}.processing`,
      ];
      const slots = await Promise.all(names.map((name) => cluster.cluster('KEYSLOT', name)));
      expect(new Set(slots).size).toBe(1);
    }
  });
});
