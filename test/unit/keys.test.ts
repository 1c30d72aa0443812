// Key names: every key of a shard shares the shard's hash tag, hence one cluster slot.
import { describe, expect, it } from 'vitest';
import { allShardKeys, shardKeys } from '../../shared/keys.js';
import { newOrderId, stepJobId } from '../../shared/order-id.js';
import { crc16, keySlot, SLOT_COUNT } from '../../shared/sharding.js';

const SHARDS = 12;
const T0 = Date.UTC(2025, 0, 15);
const AWKWARD_USERS = ['plain', 'a:b:c', '{evil}', 'close}', 'open{', '{}', 'with space', ' ', 'ü-ñ', '%7B'];

/** Every kind of key of `shard`, for one order, each awkward user and an awkward idempotency key. */
function keysOfShard(shard: number): string[] {
  const keys = shardKeys(shard, SHARDS);
  const orderId = newOrderId(shard, T0);
  const bullmq = ['wait', 'active', 'meta', 'id', 'events', 'stalled-check'].map(
    (suffix) => `${keys.queuePrefix}:${keys.queueName}:${suffix}`,
  );
  return [
    ...bullmq,
    `${keys.queuePrefix}:${keys.queueName}:${stepJobId(orderId, 'processing')}`,
    keys.jobLock(stepJobId(orderId, 'processing')),
    keys.order(orderId),
    ...AWKWARD_USERS.flatMap((user) => [
      keys.userIndex(user),
      keys.idempotency(user, 'k:{1} 2'),
      keys.clientOrder(user, 'PO:7.1'),
    ]),
  ];
}

describe('when the keys of one shard are named', () => {
  it.each(Array.from({ length: SHARDS }, (_, shard) => shard))(
    'puts every key of shard %i in its tag slot',
    (shard) => {
      const { tag } = shardKeys(shard, SHARDS);
      const slot = crc16(tag) % SLOT_COUNT;
      for (const key of keysOfShard(shard)) expect({ key, slot: keySlot(key) }).toEqual({ key, slot });
    },
  );

  it('builds the lock key the way BullMQ does, under the queue prefix', () => {
    const keys = shardKeys(3, SHARDS);
    expect(keys.jobLock('j1')).toBe(`${keys.queuePrefix}:${keys.queueName}:j1:lock`);
    expect(keys.queueKey('wait')).toBe(`${keys.queuePrefix}:${keys.queueName}:wait`);
    expect(keys.queuePrefix).toBe(`of:{${keys.tag}}`);
  });

  it("keeps two users' client order ids apart, even when the user id holds a colon", () => {
    const keys = shardKeys(3, SHARDS);
    expect(keys.clientOrder('a:b', 'c')).not.toBe(keys.clientOrder('a', 'b:c'));
  });

  it('keeps order ids verbatim in the order key', () => {
    const keys = shardKeys(3, SHARDS);
    const orderId = newOrderId(3, T0);
    expect(keys.order(orderId).endsWith(`:order:${orderId}`)).toBe(true);
  });
});

describe('when user ids or idempotency keys contain separators or braces', () => {
  const keys = shardKeys(5, SHARDS);

  it('gives different users different index keys', () => {
    const names = AWKWARD_USERS.map((user) => keys.userIndex(user));
    expect(new Set(names).size).toBe(AWKWARD_USERS.length);
  });

  it('keeps a user id and an idempotency key from running into each other', () => {
    // Without escaping, ("a:b", "c") and ("a", "b:c") would both read `a:b:c`.
    expect(keys.idempotency('a:b', 'c')).not.toBe(keys.idempotency('a', 'b:c'));
    expect(keys.idempotency('u', 'k1')).not.toBe(keys.idempotency('u', 'k2'));
    expect(keys.idempotency('u1', 'k')).not.toBe(keys.idempotency('u2', 'k'));
  });

  it('never lets user text open a second hash tag or add a colon segment', () => {
    const suffix = (key: string) => key.slice(keys.queuePrefix.length);
    for (const user of AWKWARD_USERS) {
      expect(suffix(keys.userIndex(user))).not.toMatch(/[{} ]/);
      expect(suffix(keys.userIndex(user)).split(':')).toHaveLength(3);
      expect(suffix(keys.idempotency(user, 'a:b')).split(':')).toHaveLength(4);
    }
  });

  it('keeps the kinds of record apart', () => {
    const kinds = [keys.order('x'), keys.userIndex('x'), keys.idempotency('x', 'x'), keys.jobLock('x')];
    expect(new Set(kinds).size).toBe(kinds.length);
  });
});

describe('when all shards are named', () => {
  const all = allShardKeys(SHARDS);

  it('lists every shard in order', () => {
    expect(all.map((k) => k.shard)).toEqual(Array.from({ length: SHARDS }, (_, i) => i));
    expect(all[7]).toMatchObject({ shard: 7, tag: shardKeys(7, SHARDS).tag });
  });

  it('gives every shard its own queue name, tag and prefix', () => {
    expect(new Set(all.map((k) => k.queueName)).size).toBe(SHARDS);
    expect(new Set(all.map((k) => k.tag)).size).toBe(SHARDS);
    expect(new Set(all.map((k) => k.queuePrefix)).size).toBe(SHARDS);
  });

  it('gives every shard its own slot', () => {
    expect(new Set(all.map((k) => keySlot(k.order('x')))).size).toBe(SHARDS);
  });

  it('gives the same user and order different keys in different shards', () => {
    expect(all[0]!.userIndex('u')).not.toBe(all[1]!.userIndex('u'));
    expect(all[0]!.order('o')).not.toBe(all[1]!.order('o'));
  });

  it('names each queue after its zero-padded shard number', () => {
    expect(all.map((k) => k.queueName).slice(0, 3)).toEqual(['steps-s00', 'steps-s01', 'steps-s02']);
    expect(all[11]!.queueName).toBe('steps-s11');
  });
});

describe('when the shard is out of range', () => {
  it.each([-1, SHARDS, SHARDS + 5, 1.5])('throws a RangeError for shard %d', (shard) => {
    expect(() => shardKeys(shard, SHARDS)).toThrow(RangeError);
  });

  it('names the allowed range in the message', () => {
    expect(() => shardKeys(12, 12)).toThrow('shard 12 is outside 0..11');
  });
});
