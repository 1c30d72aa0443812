// Order ids carry their shard (`<shard>-<ULID>`) so a lookup by id goes to one shard without an index.
import { randomFillSync } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ORDER_ID = /^(\d{1,4})-([0-9A-HJKMNP-TV-Z]{26})$/;

// Random bytes drawn 4 KiB at a time: one call into OpenSSL per 256 ids rather than one per id
// (measured: randomBytes(16) per id was ~2 % of the API's CPU at full placement load).
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

function random16(): Buffer {
  if (poolAt + 16 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += 16;
  return pool.subarray(poolAt - 16, poolAt);
}

/** A ULID: 48-bit millisecond time then 80 random bits, Crockford base32, sorting by time. */
export function ulid(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = random16();
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[bytes[i]! % 32];
  return time + random;
}

/** A new order id in `shard`; ids of one shard sort lexicographically by creation time. */
export function newOrderId(shard: number, now = Date.now()): string {
  return `${shard}-${ulid(now)}`;
}

/** The smallest id of `shard` created at `time`: the lexicographic bound for "older than time". */
export function orderIdFloor(shard: number, time: number): string {
  return `${shard}-${ulid(time).slice(0, 10)}`;
}

/**
 * Whether `id` has the form of a generated id, whatever its shard: client order ids may not, so a
 * lookup never has to guess which of the two an id is.
 */
export function hasGeneratedIdForm(id: string): boolean {
  return ORDER_ID.test(id);
}

/** The shard an order id names, or null when the id is malformed or its shard out of range. */
export function shardOfOrderId(orderId: string, shards: number): number | null {
  const match = ORDER_ID.exec(orderId);
  if (!match) return null;
  const shard = Number(match[1]);
  return shard < shards && String(shard) === match[1] ? shard : null;
}

/** The order id and step a step's job id names (the inverse of stepJobId). */
export function parseStepJobId(jobId: string): { order_id: string; step: string } | null {
  const dot = jobId.lastIndexOf('.');
  return dot > 0 ? { order_id: jobId.slice(0, dot), step: jobId.slice(dot + 1) } : null;
}

/** The BullMQ job id of one step of an order (BullMQ refuses `:` in custom ids). */
export function stepJobId(orderId: string, step: string): string {
  return `${orderId}.${step}`;
}
