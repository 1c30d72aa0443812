// The API's two writes of a cancel, each one script in the order's slot, fenced by the record's version.
import type { CancelRequest, OrderRecord } from '../../shared/domain/order.js';
import type { OrderEvent } from '../../shared/domain/order-events.js';
import type { Keyspace } from '../../shared/keys.js';
import { appendEvents } from '../../shared/order-store.js';
import type { Store } from '../../shared/store.js';

// KEYS: 1 record, 2 its event stream. ARGV: 1 the version planned on, 2 the request, 3 record TTL
// (ms), 4 the cancelled document or '' to store the request alone, 5.. events. An earlier request
// wins (it is the answer); a version that moved means the order moved: the caller plans again. The
// request is stored in the record hash (`c`), where every forward write of a run finds it; the
// document of an order not started is replaced in the same script, so no run can start it after.
const CANCEL = `
local stored = redis.call('HMGET', KEYS[1], 'v', 'c')
if not stored[1] then return 0 end
if stored[2] then return stored[2] end
if stored[1] ~= ARGV[1] then return -1 end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'v', tonumber(stored[1]) + 1, 'doc', ARGV[4], 'w', 'api-cancel', 'c', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'c', ARGV[2])
end
${appendEvents('KEYS[2]', 'ARGV[3]', 5)}
return 1`;

export type CancelWrite =
  | { outcome: 'written' | 'missing' | 'moved' }
  | { outcome: 'earlier'; request: CancelRequest };

const OUTCOMES = { 1: 'written', 0: 'missing', [-1]: 'moved' } as const;

/** The cancel writes of the records of `keyspace`; `ttlSeconds` is the record TTL each renews. */
export function createCancelStore(store: Store, keyspace: Keyspace, ttlSeconds: number) {
  store.defineCommand('ofCancel', { numberOfKeys: 2, lua: CANCEL });
  const script = (store as unknown as { ofCancel(...args: (string | number)[]): Promise<number | string> })
    .ofCancel;

  /** Stores `request` over `version` of `order`, with `cancelled` as the new document if given. */
  async function write(
    order: OrderRecord,
    version: number,
    request: CancelRequest,
    cancelled: OrderRecord | null,
    events: OrderEvent[],
  ): Promise<CancelWrite> {
    const keys = keyspace.shard(order.shard);
    const result = await script.call(
      store,
      keys.order(order.order_id),
      keys.orderEvents(order.order_id),
      version,
      JSON.stringify(request),
      ttlSeconds * 1000,
      cancelled ? JSON.stringify(cancelled) : '',
      ...events.map((event) => JSON.stringify(event)),
    );
    if (typeof result === 'string')
      return { outcome: 'earlier', request: JSON.parse(result) as CancelRequest };
    return { outcome: OUTCOMES[result as 1 | 0 | -1] ?? 'moved' };
  }

  return { write };
}

export type CancelStore = ReturnType<typeof createCancelStore>;
