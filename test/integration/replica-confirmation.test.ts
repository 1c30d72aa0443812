// Placement waits for a replica (WAIT_REPLICAS=1) as a group commit: concurrent placements on one
// master share WAITs, and still every 202 means the order is on a replica.
import { Redis } from 'ioredis';
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

/** A read-only connection to a replica of the master that owns `slot`. */
async function replicaOf(slot: number): Promise<Redis> {
  const shards = (await system.store.call('CLUSTER', 'SHARDS')) as unknown[][];
  for (const shard of shards) {
    const fields = shard as [string, number[], string, Array<Array<string | number>>];
    const ranges = fields[1];
    let owns = false;
    for (let i = 0; i < ranges.length; i += 2) owns ||= slot >= ranges[i]! && slot <= ranges[i + 1]!;
    if (!owns) continue;
    for (const node of fields[3]) {
      const info = new Map<string, string | number>();
      for (let i = 0; i < node.length; i += 2) info.set(String(node[i]), node[i + 1]!);
      if (info.get('role') !== 'replica' || info.get('health') !== 'online') continue;
      const replica = new Redis({ host: '127.0.0.1', port: Number(info.get('port')), lazyConnect: true });
      replicas.push(replica);
      await replica.connect();
      await replica.call('READONLY');
      return replica;
    }
  }
  throw new Error(`no online replica serves slot ${slot}`);
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
