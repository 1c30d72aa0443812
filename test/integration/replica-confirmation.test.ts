// Placement waits for a replica (WAIT_REPLICAS=1) as a group commit: concurrent placements on one
// master share WAITs, and still every 202 means the order is on a replica.
import { type Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { keySlot } from '../../shared/sharding.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem({ WAIT_REPLICAS: '1' });
const replicas: Redis[] = [];
afterAll(async () => {
  for (const replica of replicas) replica.disconnect();
  await system.close();
});

/** Counts the WAIT commands this process sends, whichever connection sends them. */
function countWaits() {
  const original = Redis.prototype.call;
  let waits = 0;
  Redis.prototype.call = function (this: Redis, ...args: Parameters<Redis['call']>) {
    if (String(args[0]).toUpperCase() === 'WAIT') waits++;
    return original.apply(this, args);
  } as Redis['call'];
  return {
    get waits() {
      return waits;
    },
    restore: () => {
      Redis.prototype.call = original;
    },
  };
}
let counter: ReturnType<typeof countWaits> | undefined;
afterEach(() => counter?.restore());

/**
 * A read-only connection to a replica of the master that owns `slot`. The replica is named by that
 * master's INFO replication, which lists the replicas connected to it now: CLUSTER SHARDS, asked of
 * any node, can still call a replica `loading` until that node hears of its replication offset over
 * the cluster bus, which on a fresh cluster made this test fail now and then.
 */
async function replicaOf(slot: number): Promise<Redis> {
  const cluster = system.store as Cluster;
  const masterAddress = cluster.slots[slot]?.[0];
  const master = cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === masterAddress);
  if (!master) throw new Error(`no master known for slot ${slot}`);
  const online = /^slave\d+:ip=([^,]+),port=(\d+),state=online/m.exec(await master.info('replication'));
  if (!online) throw new Error(`no online replica of ${masterAddress} serves slot ${slot}`);
  const replica = new Redis({ host: online[1], port: Number(online[2]), lazyConnect: true });
  replicas.push(replica);
  await replica.connect();
  await replica.call('READONLY');
  return replica;
}

describe('placement with WAIT_REPLICAS=1', () => {
  it('acknowledges 40 concurrent orders of one shard with fewer WAITs than orders, each on a replica', async () => {
    counter = countWaits();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => system.place({ user_id: 'wait-user', customer_name: `c${i}` })),
    );
    const waits = counter.waits;
    counter.restore();

    expect(results.map((r) => r.status)).toEqual(Array(40).fill(202));
    expect(waits).toBeGreaterThanOrEqual(1);
    expect(waits).toBeLessThan(40);

    const shard = results[0]!.body.shard as number;
    const keys = system.keyspace.shard(shard);
    const replica = await replicaOf(keySlot(`{${keys.tag}}`));
    for (const { body } of results) {
      expect(await replica.hexists(keys.order(body.order_id), 'doc')).toBe(1);
    }
  });
});
