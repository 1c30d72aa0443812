// The order records in the store: read, create with placement, list by user, and fenced writes.
import type { ChainableCommander } from 'ioredis';
import { MOVE_KEYS, MOVE_TO_FINISHED_LUA } from './bullmq-move.js';
import type { CancelRequest, OrderRecord } from './domain/order.js';
import { eventsBetween } from './domain/order-events.js';
import type { Keyspace } from './keys.js';
import { orderIdFloor } from './order-id.js';
import {
  CANCEL_REQUESTED,
  CLAIM_IDEMPOTENCY,
  CREATE_ORDER,
  completeAndMove,
  FENCED_WRITE,
  writeIdOf,
} from './order-scripts.js';
import type { Store } from './store.js';

export { appendEvents, EVENTS_MAXLEN, writeIdOf } from './order-scripts.js';

interface OrderScripts {
  fencedWrite(
    lock: string,
    record: string,
    stream: string,
    token: string,
    version: string,
    doc: string,
    ttl: number,
    writeId: string,
    forward: string,
    ...events: string[]
  ): Promise<number | string>;
  claimIdempotency(key: string, binding: string, ttlSeconds: number): Promise<string | null>;
  completeAndMove(...keysAndArgs: unknown[]): Promise<[number | string, unknown?]>;
}
type CreateOrderCommand = (
  record: string,
  index: string,
  binding: string,
  doc: string,
  id: string,
  ttl: number,
  floor: string,
  bindingValue: string,
  bindingTtlS: number,
) => void;

/** The idempotency binding a placement claimed: its key in the order's slot, value and TTL. */
export interface OrderBinding {
  key: string;
  value: string;
  ttlS: number;
}

/** The record's document and its version, the fence a writer must present. */
export interface VersionedOrder {
  order: OrderRecord;
  version: number;
  /** A cancel request stored beside the document and not yet taken into it (read only by `read`). */
  cancelRequest?: CancelRequest;
}

/**
 * `already-written`: this very write had landed before (a resend); the run goes on as if `written`.
 * `cancel-requested`: a forward write refused because the order is to be cancelled (`request`).
 */
export type FencedWriteResult = 'written' | 'already-written' | 'lock-lost' | 'conflict' | 'cancel-requested';
export type FencedWrite =
  | { outcome: 'written' | 'already-written'; written: VersionedOrder }
  | { outcome: 'lock-lost' | 'conflict'; written?: undefined }
  | { outcome: 'cancel-requested'; written?: undefined; request: CancelRequest };
const OUTCOMES: Record<number, FencedWriteResult> = { 1: 'written', 2: 'already-written', 0: 'lock-lost' };

/**
 * A fenced write folded into BullMQ's move of the job to completed: `moved` is BullMQ's reply when
 * this call ran the move (0, or the next job it fetched); `refused` BullMQ's own negative code.
 */
export type FoldedWrite = FencedWrite & { moved?: unknown; refused?: number };

/** What a fenced write of `next` over `expected` by `token` sends: the document, its id, its events. */
function writeOf(token: string, expected: VersionedOrder, next: OrderRecord) {
  const doc = JSON.stringify(next);
  const events = eventsBetween(expected.order, next).map((event) => JSON.stringify(event));
  return { doc, writeId: writeIdOf(token, doc), events };
}

/** A fenced write script's answer: an outcome, or the cancel request that refused it. */
function writeResult(result: number | string, expected: VersionedOrder, next: OrderRecord): FencedWrite {
  if (typeof result === 'string') {
    return { outcome: 'cancel-requested', request: JSON.parse(result) as CancelRequest };
  }
  const outcome = OUTCOMES[result] ?? 'conflict';
  if (outcome === 'written' || outcome === 'already-written') {
    return { outcome, written: { order: next, version: expected.version + 1 } };
  }
  return { outcome: outcome === 'lock-lost' ? 'lock-lost' : 'conflict' };
}

export interface OrderPage {
  orderIds: string[];
  nextCursor: string | null;
}

/** Order records of every shard of `keyspace` in `store`; `ttlSeconds` bounds how long a record is kept. */
export function createOrderStore(store: Store, keyspace: Keyspace, ttlSeconds: number) {
  const ttlMs = ttlSeconds * 1000;
  store.defineCommand('ofFencedWrite', { numberOfKeys: 3, lua: FENCED_WRITE });
  store.defineCommand('ofCreateOrder', { numberOfKeys: 3, lua: CREATE_ORDER });
  store.defineCommand('ofClaimIdempotency', { numberOfKeys: 1, lua: CLAIM_IDEMPOTENCY });
  store.defineCommand('ofCancelRequested', { lua: CANCEL_REQUESTED });
  store.defineCommand('ofCompleteAndMove', {
    numberOfKeys: MOVE_KEYS + 2,
    lua: completeAndMove(MOVE_TO_FINISHED_LUA),
  });
  const scripts = store as unknown as {
    ofCompleteAndMove: OrderScripts['completeAndMove'];
    ofCancelRequested(count: number, ...keys: string[]): Promise<number[]>;
    ofFencedWrite: OrderScripts['fencedWrite'];
    ofClaimIdempotency: OrderScripts['claimIdempotency'];
  };
  const keysOf = (orderId: string) => keyspace.ofOrder(orderId);

  return {
    /**
     * The record's JSON as stored, or null when the id is malformed or unknown. A cancel request not
     * yet taken in by a run is shown as the record's `cancellation` with `step` and `stopped_at` null.
     */
    async readJson(orderId: string): Promise<string | null> {
      const keys = keysOf(orderId);
      if (!keys) return null;
      const [doc, request] = await store.hmget(keys.order(orderId), 'doc', 'c');
      return doc && request ? withPendingCancel(doc, request) : (doc ?? null);
    },

    /** The records' JSON of ids of one shard, in order, in one round trip; unknown ones are null. */
    async readManyJson(shard: number, orderIds: string[]): Promise<(string | null)[]> {
      if (orderIds.length === 0) return [];
      const keys = keyspace.shard(shard);
      const pipeline = store.pipeline();
      for (const id of orderIds) pipeline.hget(keys.order(id), 'doc');
      const results = (await pipeline.exec()) ?? [];
      return results.map(([error, doc]) => {
        if (error) throw error;
        return (doc as string | null) ?? null;
      });
    },

    async read(orderId: string): Promise<VersionedOrder | null> {
      const keys = keysOf(orderId);
      if (!keys) return null;
      const [version, doc, request] = await store.hmget(keys.order(orderId), 'v', 'doc', 'c');
      if (!version || !doc) return null;
      const read: VersionedOrder = { order: JSON.parse(doc) as OrderRecord, version: Number(version) };
      if (request) read.cancelRequest = JSON.parse(request) as CancelRequest;
      return read;
    },

    /** Which of `orderIds`, all of `shard`, have a cancel request waiting: one script. */
    async cancelRequested(shard: number, orderIds: string[]): Promise<string[]> {
      if (orderIds.length === 0) return [];
      const keys = keyspace.shard(shard);
      const found = await scripts.ofCancelRequested(orderIds.length, ...orderIds.map((id) => keys.order(id)));
      return found.map((i) => orderIds[i - 1]!);
    },

    async exists(orderId: string): Promise<boolean> {
      const keys = keysOf(orderId);
      return keys ? (await store.exists(keys.order(orderId))) === 1 : false;
    },

    /**
     * Queues the creation of `order` (record + user index) on a MULTI of the order's shard, claiming
     * the placement's idempotency `binding` in the same step: its reply is 1 created (and the key
     * bound, if it was not), 0 existed already, or, the key being bound to another order or request,
     * that binding (`<order id> <request hash>`), nothing created.
     */
    queueCreate(multi: ChainableCommander, order: OrderRecord, binding: OrderBinding): void {
      const keys = keyspace.shard(order.shard);
      const floor = orderIdFloor(order.shard, Date.parse(order.created_at) - ttlMs);
      (multi as unknown as { ofCreateOrder: CreateOrderCommand }).ofCreateOrder(
        keys.order(order.order_id),
        keys.userIndex(order.user_id),
        binding.key,
        JSON.stringify(order),
        order.order_id,
        ttlMs,
        floor,
        binding.value,
        binding.ttlS,
      );
    },

    /** Binds (user, key) to `binding` unless bound already; returns the earlier binding if any. */
    claimIdempotency(shard: number, userId: string, key: string, binding: string, ttlSeconds: number) {
      return scripts.ofClaimIdempotency(keyspace.shard(shard).idempotency(userId, key), binding, ttlSeconds);
    },

    /** Binds (user, client order id) to `binding` unless bound already, as `claimIdempotency` does. */
    claimClientOrderId(
      shard: number,
      userId: string,
      clientOrderId: string,
      binding: string,
      ttlSeconds: number,
    ) {
      const key = keyspace.shard(shard).clientOrder(userId, clientOrderId);
      return scripts.ofClaimIdempotency(key, binding, ttlSeconds);
    },

    /** The id of the order a user's client order id is bound to (`<order id> <request hash>`), or null. */
    async orderIdOfClient(shard: number, userId: string, clientOrderId: string): Promise<string | null> {
      const binding = await store.get(keyspace.shard(shard).clientOrder(userId, clientOrderId));
      return binding?.split(' ')[0] ?? null;
    },

    /**
     * Writes `next` over `expected` only while `token` holds the lock of job `jobId`. Sending the
     * same write again is safe: once it landed, the answer is `already-written`, changing nothing.
     */
    async fencedWrite(
      jobId: string,
      token: string,
      expected: VersionedOrder,
      next: OrderRecord,
      { forward = false }: { forward?: boolean } = {},
    ): Promise<FencedWrite> {
      const keys = keyspace.shard(next.shard);
      const { doc, writeId, events } = writeOf(token, expected, next);
      const result = await scripts.ofFencedWrite(
        keys.jobLock(jobId),
        keys.order(next.order_id),
        keys.orderEvents(next.order_id),
        token,
        String(expected.version),
        doc,
        ttlMs,
        writeId,
        forward ? '1' : '0',
        ...events,
      );
      return writeResult(result, expected, next);
    },

    /**
     * `fencedWrite` of a forward write folded into BullMQ's move of the job to completed, in one
     * script: `move` is BullMQ's keys and arguments of that move (shared/bullmq-move.ts). Either
     * both land or neither; a refusal leaves the record, the job and its lock as they were.
     */
    async completeWithMove(
      token: string,
      expected: VersionedOrder,
      next: OrderRecord,
      move: readonly unknown[],
    ): Promise<FoldedWrite> {
      const keys = keyspace.shard(next.shard);
      const { doc, writeId, events } = writeOf(token, expected, next);
      const [result, moved] = await scripts.ofCompleteAndMove(
        ...move.slice(0, MOVE_KEYS),
        keys.order(next.order_id),
        keys.orderEvents(next.order_id),
        ...move.slice(MOVE_KEYS),
        token,
        String(expected.version),
        doc,
        ttlMs,
        writeId,
        ...events,
      );
      // 3: BullMQ's part refused the move (`moved` is its code); else ours, as the fenced write's.
      if (result === 3) return { outcome: 'lock-lost', refused: Number(moved) };
      return { ...writeResult(result, expected, next), moved };
    },

    /** A user's order ids, newest first; `cursor` is the last id of the previous page. */
    async listByUser(shard: number, userId: string, limit: number, cursor?: string): Promise<OrderPage> {
      const index = keyspace.shard(shard).userIndex(userId);
      const upper = cursor ? `(${cursor}` : '+';
      const ids = await store.zrevrangebylex(index, upper, '-', 'LIMIT', 0, limit + 1);
      const page = ids.slice(0, limit);
      return { orderIds: page, nextCursor: ids.length > limit ? (page.at(-1) ?? null) : null };
    },
  };
}

export type OrderStore = ReturnType<typeof createOrderStore>;

/** A record's JSON with a cancel request not yet taken in shown as its `cancellation`. */
function withPendingCancel(doc: string, request: string): string {
  const order = JSON.parse(doc) as OrderRecord;
  if (order.cancellation) return doc;
  const pending = { ...(JSON.parse(request) as CancelRequest), step: null, stopped_at: null, node_id: null };
  return JSON.stringify({ ...order, cancellation: pending });
}
