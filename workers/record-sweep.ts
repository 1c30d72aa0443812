// The reconciler's backstop: a slow SCAN over the order records for chains that vanished entirely
// (jobs removed by hand, trimmed from the failed set), which no failed job would point to.
import { STEPS } from '../shared/domain/order.js';
import type { Keyspace, ShardKeys } from '../shared/keys.js';
import { stepJobId } from '../shared/order-id.js';
import type { Store } from '../shared/store.js';
import { JOB_STATE, type Script, stepJobKeys } from './reconcile-store.js';

// Of the records KEYS[3 + 5k] (each followed by its 4 job hashes; ARGV[4k+1..4k+4] the job ids),
// the ids of those not terminal, created before ARGV[#ARGV] (ISO time) and without a live job.
// KEYS 1 and 2: the completed and failed sets. Decoded here so that only stuck ids cross the wire.
const SWEEP = `${JOB_STATE}
local cutoff = ARGV[#ARGV]
local stuck = {}
for o = 0, (#KEYS - 2) / 5 - 1 do
  local doc = redis.call('HGET', KEYS[3 + 5 * o], 'doc')
  local order = doc and cjson.decode(doc)
  if order and order.status ~= 'completed' and order.status ~= 'failed' and order.created_at < cutoff then
    local live = false
    for j = 1, 4 do
      if stateOf(KEYS[1], KEYS[2], KEYS[3 + 5 * o + j], ARGV[4 * o + j]) == 'live' then live = true end
    end
    if not live then table.insert(stuck, order.order_id) end
  end
end
return stuck`;

/** A sweep over every master of `store`, resumed where its last step stopped. */
export function createRecordSweep(store: Store, keyspace: Keyspace) {
  store.defineCommand('ofReconcileSweep', { lua: SWEEP });
  const scripts = store as unknown as { ofReconcileSweep: Script };
  const pattern = `${keyspace.namespace.replace(/[*?[\]\\]/g, '\\$&')}:{*}:order:*`;
  const cursors = new Map<string, string>();

  /** The stuck ones among orders `ids` of one shard (one slot: one script). */
  function stuckOf(keys: ShardKeys, ids: string[], cutoff: Date): Promise<unknown> {
    const keyArgs = [keys.queueKey('completed'), keys.queueKey('failed')];
    for (const id of ids) keyArgs.push(keys.order(id), ...stepJobKeys(keys, id));
    const jobIds = ids.flatMap((id) => STEPS.map((step) => stepJobId(id, step)));
    return scripts.ofReconcileSweep(keyArgs.length, ...keyArgs, ...jobIds, cutoff.toISOString());
  }

  return {
    /**
     * One SCAN step of `count` keys on every master; the ids of the records it met that are not
     * terminal, were created before `cutoff` and have no live job. A full pass over a master takes
     * (its keys / count) steps; a master that left the cluster just leaves its cursor behind.
     */
    async step(count: number, cutoff: Date): Promise<string[]> {
      const masters = 'nodes' in store ? store.nodes('master') : [store];
      const found = await Promise.all(
        masters.map(async (node) => {
          const at = `${node.options.host}:${node.options.port}`;
          const [cursor, recordKeys] = await node.scan(
            cursors.get(at) ?? '0',
            'MATCH',
            pattern,
            'COUNT',
            count,
          );
          cursors.set(at, cursor);
          const byShard = new Map<ShardKeys, string[]>();
          for (const key of recordKeys) {
            const orderId = key.slice(key.lastIndexOf(':order:') + ':order:'.length);
            const keys = keyspace.ofOrder(orderId);
            if (keys) byShard.set(keys, [...(byShard.get(keys) ?? []), orderId]);
          }
          const stuck = await Promise.all([...byShard].map(([keys, ids]) => stuckOf(keys, ids, cutoff)));
          return stuck.flat() as string[];
        }),
      );
      return found.flat();
    },
  };
}
