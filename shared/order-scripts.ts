// The Lua scripts behind the order records (shared/order-store.ts): each runs in one shard's slot,
// so what it checks and what it writes are one atomic step.
import { createHash } from 'node:crypto';

/** Events kept per order: a whole history (4 steps, undos, retries) is a few dozen. */
export const EVENTS_MAXLEN = 256;

/**
 * Lua appending ARGV[first..] (events as JSON) to the stream `stream`, capped at EVENTS_MAXLEN
 * entries, expiring with the record (`ttl`, ms). Every script that changes a record ends with it.
 */
export const appendEvents = (stream: string, ttl: string, first: number) => `
for i = ${first}, #ARGV do redis.call('XADD', ${stream}, 'MAXLEN', ${EVENTS_MAXLEN}, '*', 'e', ARGV[i]) end
if #ARGV >= ${first} then redis.call('PEXPIRE', ${stream}, ${ttl}) end`;

// Writes the step's record only while the step's BullMQ lock still holds this run's token, and
// only over the version the run read: a stale run (lock expired, taken over) writes nothing.
// Each write leaves its id in `w`: a write that landed but whose reply was lost is sent again (by
// ioredis after a reconnect, or by the run), and that resend must be told "already written" (2),
// not "conflict", or a live run would take its own write for another run's and give the step up.
// A write that moves the order forward (ARGV[6] = '1': a step's start or completion) is refused
// while a cancel request `c` sits in the record hash, answered with that request: so a cancel and
// the last step's completion have one winner, whichever the store ordered first (ADR 0021).
// The change's events (ARGV[7..]) are appended to the order's stream (KEYS[3]) in this same
// script, so an event exists exactly when its record change committed.
export const FENCED_WRITE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local stored = redis.call('HMGET', KEYS[2], 'v', 'w', 'c')
if stored[1] ~= ARGV[2] and stored[2] == ARGV[5] and tonumber(stored[1]) == tonumber(ARGV[2]) + 1 then
  return 2
end
if ARGV[6] == '1' and stored[3] then return stored[3] end
if stored[1] ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[2], 'v', tonumber(stored[1]) + 1, 'doc', ARGV[3], 'w', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
${appendEvents('KEYS[3]', 'ARGV[4]', 7)}
return 1`;

// A step's completion folded into BullMQ's move of its job to completed (docs/adr/0023): the
// fence's checks first, read-only, then BullMQ's moveToFinished unchanged (`move`, the text of the
// installed script, with its 14 keys and 9 arguments), then the record write, only if BullMQ's
// part refused nothing. Ours follow BullMQ's: KEYS[15] record, KEYS[16] its events; ARGV[10] the
// run's token, [11] the version read, [12] the document, [13] the TTL, [14] the write's id,
// [15..] events. A refusal of ours writes nothing: {0} lock lost, {-1} conflict, {request} a cancel
// waits. {2}: this very fold had landed (a resend); checked before the lock, which the fold
// released. {3, code}: BullMQ's part refused; all its refusals but -3 come before any write of its
// own, and -3 (a locked job not in the active list) only deletes the lock. {1, reply}: both landed,
// `reply` being BullMQ's (0, or the next job it fetched).
export const completeAndMove = (move: string) => `
local stored = redis.call('HMGET', KEYS[15], 'v', 'w', 'c')
if stored[1] ~= ARGV[11] and stored[2] == ARGV[14] and tonumber(stored[1]) == tonumber(ARGV[11]) + 1 then
  return {2}
end
if redis.call('GET', KEYS[12] .. ':lock') ~= ARGV[10] then return {0} end
if stored[3] then return {stored[3]} end
if stored[1] ~= ARGV[11] then return {-1} end
local moved = (function()
${move}
end)()
if type(moved) == 'number' and moved < 0 then return {3, moved} end
redis.call('HSET', KEYS[15], 'v', tonumber(stored[1]) + 1, 'doc', ARGV[12], 'w', ARGV[14])
redis.call('PEXPIRE', KEYS[15], ARGV[13])
${appendEvents('KEYS[16]', 'ARGV[13]', 15)}
return {1, moved}`;

/**
 * The id of a write: the run's lock token and a digest of the document. A resend carries the same
 * one; any other write over the same version (another run, or this run with another document) not.
 */
export function writeIdOf(token: string, doc: string): string {
  return `${token}/${createHash('sha1').update(doc).digest('base64url')}`;
}

// Creates the record unless it exists (a retried placement), indexes it under its user and
// trims index entries older than the record TTL, which sort first because ids start with time.
// KEYS[3] is the placement's idempotency binding, ARGV[5] the binding this write claims: unbound,
// it is bound here, in the step that creates the record, so a first placement needs no claim of
// its own (ADR 0022). Bound to another order or request, it creates nothing and answers that
// binding: a replay or a conflict for a first placement, and for a write whose earlier claim a
// failover lost, the binding a retry has made since.
export const CREATE_ORDER = `
local bound = redis.call('GET', KEYS[3])
if bound and bound ~= ARGV[5] then return bound end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if not bound then redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[6]) end
redis.call('HSET', KEYS[1], 'v', 1, 'doc', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('ZREMRANGEBYLEX', KEYS[2], '-', '(' .. ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`;

// The indexes (from 1) of the records among KEYS that hold a cancel request.
export const CANCEL_REQUESTED = `
local found = {}
for i, key in ipairs(KEYS) do
  if redis.call('HEXISTS', key, 'c') == 1 then table.insert(found, i) end
end
return found`;

// Binds an idempotency key to an order id and request hash, or returns the existing binding: a
// placement's retry claims its key first (a first attempt claims it in CREATE_ORDER, ADR 0022).
export const CLAIM_IDEMPOTENCY = `
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false`;
