// What a placement is keyed by (a client order id or an Idempotency-Key), and the request's fingerprint.
import { createHash, randomUUID } from 'node:crypto';
import type { Config } from '../../shared/config.js';
import type { OrderRequest } from '../../shared/domain/order.js';
import type { Keyspace } from '../../shared/keys.js';
import type { OrderStore } from '../../shared/order-store.js';
import { BadRequestError } from '../errors.js';

/**
 * A stable hash of the normalised request (server/order-request.ts), so the same body in another key
 * order, or with another spelling of the same fields, is the same request.
 */
export function requestHash(request: OrderRequest): string {
  const canonical = JSON.stringify(request, (_key, value) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 32);
}

/** The key a placement claims: `key` is the one a 503 names, `label` how a 409 names it. */
export interface PlacementKey {
  key: string;
  label?: string;
  /** Binds the key to `binding` (`<order id> <request hash>`) unless bound; the earlier binding if it was. */
  claim(binding: string): Promise<string | null>;
  /** The binding's store key and TTL, which the record's creation checks again (shared/order-store.ts). */
  bindingKey: string;
  ttlS: number;
}

export interface PlacementKeyDeps {
  config: Pick<Config, 'IDEMPOTENCY_TTL_S' | 'ORDER_TTL_S'>;
  keyspace: Keyspace;
  orders: Pick<OrderStore, 'claimIdempotency' | 'claimClientOrderId'>;
}

/**
 * What a placement of `request` in `shard` is keyed by. A client order id is the order's idempotency
 * key, bound as long as a record lives (ORDER_TTL_S), since it also finds the order; otherwise the
 * Idempotency-Key, the client's or one made up, bound for IDEMPOTENCY_TTL_S. A header naming another
 * key than the order_id is refused (400): two bindings could each name another order.
 */
export function placementKeyOf(
  { config, keyspace, orders }: PlacementKeyDeps,
  request: OrderRequest,
  shard: number,
  idempotencyKey?: string,
): PlacementKey {
  const { user_id: userId, client_order_id: clientId } = request;
  if (clientId === undefined) {
    const key = idempotencyKey ?? randomUUID();
    return {
      key,
      claim: (binding) => orders.claimIdempotency(shard, userId, key, binding, config.IDEMPOTENCY_TTL_S),
      bindingKey: keyspace.shard(shard).idempotency(userId, key),
      ttlS: config.IDEMPOTENCY_TTL_S,
    };
  }
  if (idempotencyKey !== undefined && idempotencyKey !== clientId) {
    throw new BadRequestError(
      'Idempotency-Key differs from order_id: the order_id is the idempotency key of its order; send the same value or no header',
    );
  }
  return {
    key: clientId,
    label: `order_id ${JSON.stringify(clientId)}`,
    claim: (binding) => orders.claimClientOrderId(shard, userId, clientId, binding, config.ORDER_TTL_S),
    bindingKey: keyspace.shard(shard).clientOrder(userId, clientId),
    ttlS: config.ORDER_TTL_S,
  };
}
