// An in-memory OrderStore for unit tests: reads and fenced writes with the real script's checks.
import type { OrderRecord } from '../../../shared/domain/order.js';
import {
  type FencedWrite,
  type OrderStore,
  type VersionedOrder,
  writeIdOf,
} from '../../../shared/order-store.js';

/** A record's round trip through the store: JSON, as the real store keeps it. */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** How a write fails on the wire: see `breakWrite`. */
export interface BrokenWrite {
  /** `throw`: the caller gets a connection error; `resend`: ioredis resends it after reconnecting. */
  reply: 'throw' | 'resend';
  /** Whether the write reached the store before the connection broke (default true). */
  lands?: boolean;
  /** What happens elsewhere while the connection is down (before the caller hears anything). */
  meanwhile?: () => void;
}

/**
 * Records by order id and BullMQ locks by job id. `fencedWrite` answers like the Lua script: a lock
 * not held by `token` is `lock-lost`; the same write again once it landed `already-written`; any
 * other version than the stored one (or no record) `conflict`.
 */
export function createFakeOrderStore() {
  const records = new Map<string, VersionedOrder>();
  const locks = new Map<string, string>();
  const broken = new Map<number, BrokenWrite>();
  /** The id of the write that left each record as it is (the script's `w` field). */
  const writeIds = new Map<string, string>();
  /** Every record written, in order. */
  const writes: OrderRecord[] = [];
  let reads = 0;
  let attempts = 0;

  /** The script itself: one attempt as the store sees it. */
  function apply(jobId: string, token: string, expected: VersionedOrder, next: OrderRecord): FencedWrite {
    attempts++;
    if (locks.get(jobId) !== token) return { outcome: 'lock-lost' };
    const id = writeIdOf(token, JSON.stringify(next));
    const written = { order: next, version: expected.version + 1 };
    const version = records.get(next.order_id)?.version;
    if (version !== expected.version) {
      const landed = version === written.version && writeIds.get(next.order_id) === id;
      return landed ? { outcome: 'already-written', written } : { outcome: 'conflict' };
    }
    records.set(next.order_id, copy(written));
    writeIds.set(next.order_id, id);
    writes.push(copy(next));
    return { outcome: 'written', written };
  }

  const orders = {
    async read(orderId: string): Promise<VersionedOrder | null> {
      reads++;
      const stored = records.get(orderId);
      return stored ? copy(stored) : null;
    },
    async fencedWrite(jobId: string, token: string, expected: VersionedOrder, next: OrderRecord) {
      const breaks = broken.get(attempts + 1);
      if (!breaks) return apply(jobId, token, expected, next);
      if (breaks.lands ?? true) apply(jobId, token, expected, next);
      else attempts++;
      breaks.meanwhile?.();
      if (breaks.reply === 'throw') throw new Error('Connection is closed.');
      return apply(jobId, token, expected, next);
    },
  } satisfies Pick<OrderStore, 'read' | 'fencedWrite'>;

  return {
    orders,
    writes,
    reads: () => reads,
    /** Fenced writes tried, refused ones and resends included. */
    writeAttempts: () => attempts,
    /** The `n`th write attempt from now on (1-based, counting every attempt) breaks as `how` says. */
    breakWrite(n: number, how: BrokenWrite): void {
      broken.set(attempts + n, how);
    },
    /** Stores `order` as a placement would: version 1. */
    place(order: OrderRecord): void {
      records.set(order.order_id, { order: copy(order), version: 1 });
    },
    /** The stored record (not a copy the processor could change). */
    record(orderId: string): VersionedOrder | undefined {
      return records.get(orderId);
    },
    /** BullMQ gives the lock of `jobId` to `token` (or takes it away with undefined). */
    lock(jobId: string, token: string | undefined): void {
      if (token === undefined) locks.delete(jobId);
      else locks.set(jobId, token);
    },
    /** Another writer moved the record on: its version changes under the run. */
    bumpVersion(orderId: string): void {
      const stored = records.get(orderId)!;
      records.set(orderId, { ...stored, version: stored.version + 1 });
      writeIds.set(orderId, 'another-writer');
    },
  };
}

export type FakeOrderStore = ReturnType<typeof createFakeOrderStore>;
