// What the reconciler reads and writes in a shard's slot: the order's jobs, its record, its claim.

import type { CancelRequest } from '../shared/domain/order.js';
import { type OrderRecord, STEPS, type StepName } from '../shared/domain/order.js';
import { eventsBetween } from '../shared/domain/order-events.js';
import type { Keyspace, ShardKeys } from '../shared/keys.js';
import { stepJobId } from '../shared/order-id.js';
import { appendEvents, type VersionedOrder } from '../shared/order-store.js';
import type { Store } from '../shared/store.js';

// A job is live (waiting, delayed, prioritized, active, paused, waiting for its child) exactly when
// its hash exists and it is in neither finished set: BullMQ moves a job into those sets and out of
// every other state in one script, and removing a job deletes its hash. So this is O(1) per job,
// where looking it up in the wait list would be O(backlog).
export const JOB_STATE = `
local function stateOf(completed, failed, jobKey, jobId)
  if redis.call('ZSCORE', completed, jobId) then return 'completed' end
  if redis.call('ZSCORE', failed, jobId) then return 'failed' end
  if redis.call('EXISTS', jobKey) == 1 then return 'live' end
  return 'missing'
end`;

// KEYS: 1 record, 2 claim, 3 completed set, 4 failed set, 5..8 the step jobs' hashes, 9 the
// order's event stream; ARGV[1..4]: the step job ids.
const ORDER_JOBS = `${JOB_STATE}
local function jobState(i) return stateOf(KEYS[3], KEYS[4], KEYS[4 + i], ARGV[i]) end`;

// The record and, per step, its job's state, failure reason, attempts made and stall count.
const INSPECT = `${ORDER_JOBS}
local out = redis.call('HMGET', KEYS[1], 'v', 'doc')
out[1] = out[1] or ''
out[2] = out[2] or ''
for i = 1, 4 do
  local job = redis.call('HMGET', KEYS[4 + i], 'failedReason', 'atm', 'stc')
  table.insert(out, jobState(i))
  table.insert(out, job[1] or '')
  table.insert(out, job[2] or '0')
  table.insert(out, job[3] or '0')
end
table.insert(out, redis.call('HGET', KEYS[1], 'c') or '')
return out`;

// Writes the record only while no job of the order is live (a live job's run owns the record and
// writes under its own lock), while no other reconciler holds the order's claim, and over the
// version read. The claim is (re)taken for ARGV[6] ms with the write, or released with the last.
// ARGV: 5 token, 6 claim ms, 7 version, 8 doc, 9 record ttl ms, 10 '1' to release the claim,
// 11.. the change's events, appended to the order's stream.
const WRITE = `${ORDER_JOBS}
for i = 1, 4 do
  if jobState(i) == 'live' then return -2 end
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[5] then return 0 end
local v = redis.call('HGET', KEYS[1], 'v')
if v ~= ARGV[7] then return -1 end
redis.call('HSET', KEYS[1], 'v', tonumber(v) + 1, 'doc', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
if ARGV[10] == '1' then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])
end
${appendEvents('KEYS[9]', 'ARGV[9]', 11)}
return 1`;

export type JobState = 'live' | 'completed' | 'failed' | 'missing';
export interface StepJob {
  state: JobState;
  failedReason: string;
  attemptsMade: number;
  stalledCount: number;
}
export interface Inspection {
  /** With the cancel request stored beside it, if any (`cancelRequest`). */
  record: VersionedOrder | null;
  jobs: Record<StepName, StepJob>;
}
export type ReconcileWriteResult = 'written' | 'live' | 'claimed' | 'conflict';

export type Script = (...args: (string | number)[]) => Promise<unknown>;

/** The hash keys of an order's four step jobs, in step order. */
export const stepJobKeys = (keys: ShardKeys, orderId: string) =>
  STEPS.map((step) => keys.queueKey(stepJobId(orderId, step)));
// -1 (the version moved) and anything unexpected: `conflict`, re-read at the next pass.
const RESULTS: Record<number, ReconcileWriteResult> = { 1: 'written', [-2]: 'live', 0: 'claimed' };

/** The reconciler's view of the store; `ttlSeconds` is the record TTL every write renews. */
export function createReconcileStore(store: Store, keyspace: Keyspace, ttlSeconds: number) {
  store.defineCommand('ofReconcileInspect', { numberOfKeys: 9, lua: INSPECT });
  store.defineCommand('ofReconcileWrite', { numberOfKeys: 9, lua: WRITE });
  const scripts = store as unknown as { ofReconcileInspect: Script; ofReconcileWrite: Script };
  const keysAndIds = (keys: ShardKeys, orderId: string) => {
    const ids = STEPS.map((step) => stepJobId(orderId, step));
    return [
      keys.order(orderId),
      `${keys.queuePrefix}:reconcile:${orderId}`,
      keys.queueKey('completed'),
      keys.queueKey('failed'),
      ...stepJobKeys(keys, orderId),
      keys.orderEvents(orderId),
      ...ids,
    ];
  };
  const keysOf = (orderId: string) => {
    const keys = keyspace.ofOrder(orderId);
    if (!keys) throw new RangeError(`malformed order id ${orderId}`);
    return keys;
  };

  return {
    /** The record and the state of each step's job, read together in one script. */
    async inspect(orderId: string): Promise<Inspection> {
      const out = (await scripts.ofReconcileInspect(...keysAndIds(keysOf(orderId), orderId))) as string[];
      const jobs = {} as Record<StepName, StepJob>;
      STEPS.forEach((step, i) => {
        const [state, failedReason, atm, stc] = out.slice(2 + 4 * i, 6 + 4 * i);
        jobs[step] = {
          state: state as JobState,
          failedReason: failedReason ?? '',
          attemptsMade: Number(atm),
          stalledCount: Number(stc),
        };
      });
      const [version, doc] = out;
      const request = out.at(-1);
      const record: VersionedOrder | null =
        version && doc ? { order: JSON.parse(doc) as OrderRecord, version: Number(version) } : null;
      if (record && request) record.cancelRequest = JSON.parse(request) as CancelRequest;
      return { record, jobs };
    },

    /** Writes `next` over `expected` under the claim `token` (see WRITE); `release` ends the claim. */
    async write(
      token: string,
      claimMs: number,
      expected: VersionedOrder,
      next: OrderRecord,
      release: boolean,
    ) {
      const orderId = next.order_id;
      const args = [
        token,
        claimMs,
        expected.version,
        JSON.stringify(next),
        ttlSeconds * 1000,
        release ? 1 : 0,
        ...eventsBetween(expected.order, next).map((event) => JSON.stringify(event)),
      ];
      const result = Number(await scripts.ofReconcileWrite(...keysAndIds(keysOf(orderId), orderId), ...args));
      return RESULTS[result] ?? 'conflict';
    },

    /** Up to `limit` failed step jobs of `shard` that finished at `min` ms or later, oldest first. */
    async failedSince(shard: number, min: number, limit: number): Promise<{ jobId: string; at: number }[]> {
      const key = keyspace.shard(shard).queueKey('failed');
      const flat = await store.zrangebyscore(key, min, '+inf', 'WITHSCORES', 'LIMIT', 0, limit);
      const found: { jobId: string; at: number }[] = [];
      for (let i = 0; i < flat.length; i += 2) found.push({ jobId: flat[i]!, at: Number(flat[i + 1]) });
      return found;
    },
  };
}

export type ReconcileStore = ReturnType<typeof createReconcileStore>;
