// Placing an order: idempotency, the atomic write of record + chain, and replica confirmation.
import { createHash } from 'node:crypto';
import type { Config } from '../../shared/config.js';
import { newOrder, type OrderRequest } from '../../shared/domain/order.js';
import type { Keyspace } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import { orderFlow } from '../../shared/order-flow.js';
import { newOrderId } from '../../shared/order-id.js';
import type { OrderStore } from '../../shared/order-store.js';
import { shardOf } from '../../shared/sharding.js';
import { withTimeout } from '../../shared/store.js';
import { BacklogFullError, IdempotencyConflictError, StoreUnavailableError } from '../errors.js';
import type { BacklogMonitor } from './backlog.js';
import type { PlacementProducer } from './placement-producer.js';
import type { ReplicaConfirmation } from './replica-confirmation.js';

export interface PlacementDeps {
  config: Pick<
    Config,
    'IDEMPOTENCY_TTL_S' | 'WAIT_REPLICAS' | 'WAIT_TIMEOUT_MS' | 'REDIS_MODE' | 'BACKLOG_LIMIT'
  >;
  keyspace: Keyspace;
  orders: OrderStore;
  producer: PlacementProducer;
  logger: Logger;
  /** Waiting steps; past BACKLOG_LIMIT placement answers 429. Absent: no limit. */
  backlog?: Pick<BacklogMonitor, 'total'>;
  /** Waits for replicas before a placement is acknowledged. Absent: acknowledged once on the master. */
  replicas?: Pick<ReplicaConfirmation, 'confirm'>;
  /** Total time a placement may spend on the store, retries included. */
  budgetMs?: number;
}

export interface Placement {
  order_id: string;
  shard: number;
  created_at: string;
  /** True when an earlier request with the same Idempotency-Key stored this order. */
  replayed: boolean;
}

/** A stable hash of the request, so the same body in another key order is the same request. */
export function requestHash(request: OrderRequest): string {
  const canonical = JSON.stringify(request, (_key, value) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 32);
}

/** The placement service of the API. */
export function createPlacement({
  config,
  keyspace,
  orders,
  producer,
  logger,
  backlog,
  replicas,
  budgetMs = 3000,
}: PlacementDeps) {
  async function storeOrder(orderId: string, shard: number, request: OrderRequest): Promise<string> {
    const order = newOrder(orderId, shard, request, new Date());
    await producer.addWith(orderFlow(order, keyspace.shard(shard)), (multi) =>
      orders.queueCreate(multi, order),
    );
    await replicas?.confirm(shard);
    return order.created_at;
  }

  async function place(request: OrderRequest, shard: number, candidateId: string, idempotencyKey?: string) {
    let orderId = candidateId;
    if (idempotencyKey !== undefined) {
      const hash = requestHash(request);
      const bound = await orders.claimIdempotency(
        shard,
        request.user_id,
        idempotencyKey,
        `${orderId} ${hash}`,
        config.IDEMPOTENCY_TTL_S,
      );
      if (bound) {
        const [boundId, boundHash] = bound.split(' ');
        if (boundHash !== hash) throw new IdempotencyConflictError();
        orderId = boundId!;
        const stored = await orders.read(orderId);
        // Stored means acknowledged before, or about to be: the record and the chain commit together.
        if (stored) return { order_id: orderId, shard, created_at: stored.order.created_at, replayed: true };
      }
    }
    const created_at = await storeOrder(orderId, shard, request);
    return { order_id: orderId, shard, created_at, replayed: false } satisfies Placement;
  }

  return {
    /** Stores the order and its chain, retrying store errors within the budget (same ids: safe). */
    async placeOrder(
      request: OrderRequest,
      idempotencyKey?: string,
      context: { request_id?: string } = {},
    ): Promise<Placement> {
      if (backlog && backlog.total > config.BACKLOG_LIMIT) throw new BacklogFullError(backlog.total, 1);
      const shard = shardOf(request.user_id, keyspace.shards);
      // One id for every retry: a retry after a write that did land is then a no-op, not a second order.
      const candidateId = newOrderId(shard);
      const deadline = Date.now() + budgetMs;
      for (let attempt = 1; ; attempt++) {
        try {
          const placing = place(request, shard, candidateId, idempotencyKey);
          return await withTimeout(placing, Math.max(100, deadline - Date.now()), 'placement');
        } catch (error) {
          if (error instanceof IdempotencyConflictError || error instanceof StoreUnavailableError)
            throw error;
          logger.warn({
            event: 'placement-retry',
            ...context,
            order_id: candidateId,
            shard,
            attempt,
            err: error,
          });
          if (Date.now() + 100 >= deadline) {
            throw new StoreUnavailableError(
              'the store did not accept the order in time; retry with the same Idempotency-Key',
            );
          }
          await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 500)));
        }
      }
    },
  };
}

export type PlacementService = ReturnType<typeof createPlacement>;
