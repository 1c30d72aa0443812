// An in-memory OrderStore for unit tests: reads and fenced writes with the real script's checks.
import type { OrderRecord } from '../../../shared/domain/order.js';
import type { OrderStore, VersionedOrder } from '../../../shared/order-store.js';

/** A record's round trip through the store: JSON, as the real store keeps it. */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * Records by order id and BullMQ locks by job id. `fencedWrite` refuses like the Lua script: a lock
 * not held by `token` is `lock-lost`, a version other than the stored one (or no record) `conflict`.
 */
export function createFakeOrderStore() {
  const records = new Map<string, VersionedOrder>();
  const locks = new Map<string, string>();
  /** Every record written, in order. */
  const writes: OrderRecord[] = [];
  let reads = 0;
  let attempts = 0;

  const orders = {
    async read(orderId: string): Promise<VersionedOrder | null> {
      reads++;
      const stored = records.get(orderId);
      return stored ? copy(stored) : null;
    },
    async fencedWrite(jobId: string, token: string, expected: VersionedOrder, next: OrderRecord) {
      attempts++;
      if (locks.get(jobId) !== token) return { outcome: 'lock-lost' as const };
      if (records.get(next.order_id)?.version !== expected.version) return { outcome: 'conflict' as const };
      const written = { order: next, version: expected.version + 1 };
      records.set(next.order_id, copy(written));
      writes.push(copy(next));
      return { outcome: 'written' as const, written };
    },
  } satisfies Pick<OrderStore, 'read' | 'fencedWrite'>;

  return {
    orders,
    writes,
    reads: () => reads,
    /** Fenced writes tried, refused ones included. */
    writeAttempts: () => attempts,
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
    },
  };
}

export type FakeOrderStore = ReturnType<typeof createFakeOrderStore>;
