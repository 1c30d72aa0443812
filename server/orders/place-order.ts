// Placing an order: idempotency, the atomic write of key, record and chain, and replica confirmation.
import type { Config } from '../../shared/config.js';
import { newOrder, type OrderRecord, type OrderRequest, STEPS } from '../../shared/domain/order.js';
import type { Keyspace } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import { orderFlow } from '../../shared/order-flow.js';
import { newOrderId, stepJobId } from '../../shared/order-id.js';
import type { OrderStore } from '../../shared/order-store.js';
import { shardOf } from '../../shared/sharding.js';
import { withTimeout } from '../../shared/store.js';
import { activeTraceCarrier } from '../../shared/tracing.js';
import { BacklogFullError, IdempotencyConflictError, StoreUnavailableError } from '../errors.js';
import { isRetryable, KeyReboundError } from '../retryable.js';
import type { BacklogMonitor } from './backlog.js';
import { type PlacementKey, placementKeyOf, requestHash } from './placement-key.js';
import type { PlacementProducer } from './placement-producer.js';
import type { ReplicaConfirmation } from './replica-confirmation.js';

export interface PlacementDeps {
  config: Pick<
    Config,
    'IDEMPOTENCY_TTL_S' | 'ORDER_TTL_S' | 'WAIT_REPLICAS' | 'WAIT_TIMEOUT_MS' | 'REDIS_MODE' | 'BACKLOG_LIMIT'
  >;
  keyspace: Keyspace;
  orders: OrderStore;
  producer: PlacementProducer;
  logger: Logger;
  /** Waiting steps; past BACKLOG_LIMIT placement answers 429. Absent: no limit. */
  backlog?: Pick<BacklogMonitor, 'total'>;
  /** Waits for replicas before a placement is acknowledged. Absent: acknowledged once on the master. */
  replicas?: Pick<ReplicaConfirmation, 'confirm' | 'confirmRead'>;
  /** Total time a placement may spend on the store, retries included. */
  budgetMs?: number;
  /**
   * Called once for each order whose record a placement created: the placed count. Counting 202s
   * missed every order stored by a request answered 503 and acknowledged by a replay (the chaos run,
   * seed s6: /stats 74 placed short of the records).
   */
  onStored?: () => void;
}

export interface Placement {
  order_id: string;
  /** The client's own id of the order, when the request sent one. */
  client_order_id: string | null;
  shard: number;
  created_at: string;
  /** True when an earlier request with the same Idempotency-Key (or client order id) stored this order. */
  replayed: boolean;
}

/**
 * Set when the placement has answered: an attempt still running stops before its next command. A
 * flag rather than an AbortController, whose abort() built a DOMException (a stack trace) on every
 * request: 2 % of the API's CPU under the placement bench (docs/BENCHMARKS.md).
 */
interface Cutoff {
  cut: boolean;
}
const CUT = new Error('the placement has answered: this attempt stops');
const stopIfCut = (cutoff: Cutoff) => {
  if (cutoff.cut) throw CUT;
};

/** Tries to remove an orphan chain while a worker holds its first step: it fails that step at once. */
const ORPHAN_REMOVAL_TRIES = 5;

const placed = (order: OrderRecord, replayed: boolean): Placement => ({
  order_id: order.order_id,
  client_order_id: order.client_order_id ?? null,
  shard: order.shard,
  created_at: order.created_at,
  replayed,
});

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
  onStored,
}: PlacementDeps) {
  /**
   * Whether a stored order was placed whole. A record a worker moved on was reached from its
   * chain (whose finished jobs may since have been removed). A record still `accepted` has had no
   * step start, so no job can have finished or been removed: all four must exist. Checking all
   * four costs one EXISTS, like checking the root and the leaf, and also catches a chain missing
   * its middle.
   */
  async function isWhole(order: OrderRecord): Promise<boolean> {
    if (order.status !== 'accepted') return true;
    const jobIds = STEPS.map((step) => stepJobId(order.order_id, step));
    return (await producer.existingJobs(keyspace.shard(order.shard), jobIds)) === jobIds.length;
  }

  /**
   * Writes `order`, its record and chain in one MULTI with the key's binding `value` claimed in the
   * record's create script: 1 created, 0 existed already, or the binding that stands instead.
   */
  async function write(order: OrderRecord, key: PlacementKey, value: string): Promise<number | string> {
    // The request's trace goes with every step (empty with tracing off): docs/adr/0019.
    const flow = orderFlow(order, keyspace.shard(order.shard), activeTraceCarrier());
    const binding = { key: key.bindingKey, value, ttlS: key.ttlS };
    const [reply] = await producer.addWith(flow, (multi) => orders.queueCreate(multi, order, binding));
    return reply as number | string;
  }

  /**
   * Removes the chain a MULTI added for `candidateId` while the key was bound to another order: no
   * record has that id, nor can get it, so no job of it may stay. A worker that took its first step
   * in between fails it at once ("has no record"); the failed chain is then removed, a few tries
   * later. Left behind only if the store fails these calls; logged, the answer goes on.
   */
  async function dropOrphanChain(shard: number, candidateId: string): Promise<void> {
    const root = stepJobId(candidateId, STEPS[STEPS.length - 1]!);
    try {
      for (let tries = 1; ; tries++) {
        if (await producer.removeChain(keyspace.shard(shard), root)) return;
        if (tries === ORPHAN_REMOVAL_TRIES) break;
        await new Promise((resolve) => setTimeout(resolve, 50 * tries));
      }
      logger.warn({ event: 'orphan-chain-locked', order_id: candidateId, shard });
    } catch (error) {
      logger.warn({ event: 'orphan-chain-left', order_id: candidateId, shard, err: error });
    }
  }

  /**
   * One attempt. `cutoff` is set once the client was answered 503: no command that writes the
   * order is sent after that (one already handed to ioredis may still reach the store: it cannot
   * be taken back); the removal of this request's own orphan chain still is, as it writes no order.
   *
   * The first attempt claims the key in its MULTI (ADR 0022): its candidate id is new, so nothing of
   * it can exist yet. A retry claims the key first, as before: its earlier attempt may have stored
   * the order, whose steps may have run and finished since, and a MULTI re-adds every job it holds.
   */
  async function place(
    request: OrderRequest,
    shard: number,
    candidateId: string,
    key: PlacementKey,
    cutoff: Cutoff,
    countStored: () => void,
    attempt: number,
    /** Whether a MULTI of this request added the candidate's chain: shared by its attempts. */
    chain: { sent: boolean },
  ): Promise<Placement> {
    const hash = requestHash(request);
    const ownBinding = `${candidateId} ${hash}`;
    let bound: string | null;
    if (attempt === 1) {
      const order = newOrder(candidateId, shard, request, new Date());
      chain.sent = true;
      const reply = await write(order, key, ownBinding);
      if (reply === 1) {
        // Counted when stored, whatever the answer: a 503 after this still leaves an order to process.
        countStored();
        stopIfCut(cutoff);
        await replicas?.confirm(shard);
        return placed(order, false);
      }
      // 0: the record was there, bound to this very id: ioredis resent this MULTI, whose first run
      // stored it. Answered from the store below, like a retry finding its own earlier attempt's.
      bound = reply === 0 ? ownBinding : String(reply);
    } else {
      stopIfCut(cutoff);
      bound = await key.claim(ownBinding);
    }
    let order: OrderRecord;
    if (!bound) order = newOrder(candidateId, shard, request, new Date());
    else {
      const [boundId, boundHash] = bound.split(' ') as [string, string];
      // Bound to `candidateId`, the key was claimed by an earlier attempt of this very request.
      const ours = boundId === candidateId;
      // Bound to another order, a MULTI of this request added a chain that no record will have.
      if (!ours && chain.sent) {
        await dropOrphanChain(shard, candidateId);
        chain.sent = false;
      }
      if (boundHash !== hash) throw new IdempotencyConflictError(key.label);
      stopIfCut(cutoff);
      const stored = await orders.read(boundId);
      stopIfCut(cutoff);
      // Stored by an earlier attempt of this request whose reply was lost: counted here, once.
      if (stored && ours) countStored();
      if (stored && (await isWhole(stored.order))) {
        stopIfCut(cutoff);
        // Acknowledged like a first placement: only once a replica holds what was just read. Not a
        // replay when the record is this request's own (an attempt of it stored it, then failed).
        await replicas?.confirmRead(shard);
        return placed(stored.order, !ours);
      }
      // Not placed whole (yet): an earlier request is mid-way, or was applied in part. Same ids
      // again: an existing record is kept as it is, and only missing jobs are added.
      order = stored?.order ?? newOrder(boundId, shard, request, new Date());
    }
    stopIfCut(cutoff);
    if (order.order_id === candidateId) chain.sent = true;
    const created = await write(order, key, `${order.order_id} ${hash}`);
    // The key was bound to another order since it was claimed: the next attempt reads that binding.
    if (typeof created === 'string') throw new KeyReboundError();
    // Counted when stored, whatever the answer: a 503 after this still leaves an order to process.
    if (created === 1) countStored();
    stopIfCut(cutoff);
    // With a bound key the MULTI may have found all of it written by another connection already.
    await (bound ? replicas?.confirmRead(shard) : replicas?.confirm(shard));
    return placed(order, false);
  }

  return {
    /**
     * Stores the order and its chain, retrying transient store errors (server/retryable.ts) within
     * the budget (same ids: safe); any other error is thrown at once, as a retry would only meet it
     * again. Every placement is keyed, a key being generated when the client sent none, so that a
     * 503 can name the key whose retry returns this order rather than a copy.
     */
    async placeOrder(
      request: OrderRequest,
      idempotencyKey?: string,
      context: { request_id?: string } = {},
    ): Promise<Placement> {
      const shard = shardOf(request.user_id, keyspace.shards);
      const keyed = placementKeyOf({ config, keyspace, orders }, request, shard, idempotencyKey);
      // Before anything is written: a 429 leaves nothing behind, not even a key.
      if (backlog && backlog.total > config.BACKLOG_LIMIT) throw new BacklogFullError(backlog.total, 1);
      // One id for every retry: a retry after a write that did land is then a no-op, not a second order.
      const candidateId = newOrderId(shard);
      const key = keyed.key;
      const deadline = Date.now() + budgetMs;
      const cutoff: Cutoff = { cut: false };
      const chain = { sent: false };
      let counted = false;
      const countStored = () => {
        if (counted) return;
        counted = true;
        onStored?.();
      };
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            const placing = place(request, shard, candidateId, keyed, cutoff, countStored, attempt, chain);
            return await withTimeout(placing, Math.max(100, deadline - Date.now()), 'placement');
          } catch (error) {
            // A replica that did not confirm: the order may be stored, so the 503 names the key.
            if (error instanceof StoreUnavailableError) {
              throw new StoreUnavailableError(error.message, { idempotencyKey: key, cause: error });
            }
            if (!isRetryable(error)) throw error;
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
                'the store did not accept the order in time; it may still be stored: retry with this Idempotency-Key',
                { idempotencyKey: key, cause: error },
              );
            }
            await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 500)));
          }
        }
      } finally {
        // A timed-out attempt still runs: stop it before it sends anything more.
        cutoff.cut = true;
      }
    },
  };
}

export type PlacementService = ReturnType<typeof createPlacement>;
