// Order ids: `<shard>-<ULID>`, parsed back to their shard, sorting by creation time within a shard.
import { describe, expect, it } from 'vitest';
import {
  hasGeneratedIdForm,
  newOrderId,
  orderIdFloor,
  shardOfOrderId,
  stepJobId,
  ulid,
} from '../../shared/order-id.js';

const CROCKFORD_26 = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

describe('newOrderId', () => {
  it('is the shard, a dash and 26 Crockford base32 characters', () => {
    for (const shard of [0, 7, 11, 1023]) {
      const id = newOrderId(shard);
      const [prefix, body, ...rest] = id.split('-');
      expect(rest).toEqual([]);
      expect(prefix).toBe(String(shard));
      expect(body).toMatch(CROCKFORD_26);
    }
  });

  it('never contains a colon, which BullMQ refuses in job ids', () => {
    for (let i = 0; i < 200; i++) expect(newOrderId(i % 12, T0 + i)).not.toContain(':');
  });

  it('gives two ids of the same shard and millisecond different random parts', () => {
    const ids = new Set(Array.from({ length: 500 }, () => newOrderId(3, T0)));
    expect(ids.size).toBe(500);
  });

  it('encodes the creation time in the first 10 characters of the ULID', () => {
    expect(newOrderId(5, 0).slice(2, 12)).toBe('0000000000');
    expect(newOrderId(5, 32).slice(2, 12)).toBe('0000000010');
    expect(ulid(T0).slice(0, 10)).toBe(newOrderId(5, T0).slice(2, 12));
  });

  it('sorts ids of one shard created later after earlier ones', () => {
    const times = [
      T0,
      T0 + 1,
      T0 + 31,
      T0 + 32,
      T0 + 1000,
      T0 + 86_400_000,
      Date.UTC(2100, 0, 1),
      2 ** 48 - 1,
    ];
    const ids = times.map((t) => newOrderId(4, t));
    expect([...ids].reverse().sort()).toEqual(ids);
  });
});

describe('shardOfOrderId', () => {
  const id = (shard: string) => `${shard}-${ulid(T0)}`;

  it('returns the shard an id was made in', () => {
    for (const shard of [0, 1, 11]) expect(shardOfOrderId(newOrderId(shard), 12)).toBe(shard);
  });

  it.each([
    ['the empty string', ''],
    ['a bare ULID', ulid(T0)],
    ['a missing shard', id('')],
    ['a negative shard', id('-1')],
    ['a ULID one character short', id('3').slice(0, -1)],
    ['a ULID one character long', `${id('3')}0`],
    ['lower-case characters', id('3').toLowerCase()],
    ['a letter Crockford leaves out (U)', `3-${'U'.repeat(26)}`],
    ['a colon instead of the dash', id('3').replace('-', ':')],
    ['a five-digit shard', id('10000')],
  ])('returns null for %s', (_, orderId) => {
    expect(shardOfOrderId(orderId, 12)).toBeNull();
  });

  it('returns null for a shard with leading zeros', () => {
    expect(shardOfOrderId(id('03'), 12)).toBeNull();
    expect(shardOfOrderId(id('00'), 12)).toBeNull();
  });

  it('returns null for a shard outside the cluster', () => {
    expect(shardOfOrderId(id('11'), 12)).toBe(11);
    expect(shardOfOrderId(id('12'), 12)).toBeNull();
    expect(shardOfOrderId(id('99'), 12)).toBeNull();
  });
});

describe('hasGeneratedIdForm', () => {
  it('is true for a generated id, whatever its shard, so no client order id can take that form', () => {
    expect(hasGeneratedIdForm(newOrderId(3))).toBe(true);
    expect(hasGeneratedIdForm(`999-${ulid(T0)}`)).toBe(true);
  });

  it.each(['PO-1', '3-ABC', `3-${ulid(T0).toLowerCase()}`, `3:${ulid(T0)}`, ulid(T0)])(
    'is false for %s',
    (id) => {
      expect(hasGeneratedIdForm(id)).toBe(false);
    },
  );
});

describe('orderIdFloor', () => {
  const shard = 6;
  const floor = orderIdFloor(shard, T0);

  it('sorts before every id of the shard created at or after the time', () => {
    for (const t of [T0, T0 + 1, T0 + 60_000]) {
      for (let i = 0; i < 20; i++) expect(floor < newOrderId(shard, t)).toBe(true);
    }
  });

  it('sorts after every id of the shard created before the time', () => {
    for (const t of [T0 - 1, T0 - 32, T0 - 60_000, 0]) {
      for (let i = 0; i < 20; i++) expect(newOrderId(shard, t) < floor).toBe(true);
    }
  });

  it('is a prefix of the ids created at that very millisecond', () => {
    expect(newOrderId(shard, T0).startsWith(floor)).toBe(true);
  });
});

describe('stepJobId', () => {
  it('joins the order id and the step with a dot', () => {
    const orderId = newOrderId(2, T0);
    expect(stepJobId(orderId, 'pre-processing')).toBe(`${orderId}.pre-processing`);
    expect(stepJobId(orderId, 'processing')).not.toContain(':');
  });

  it('gives every step of an order its own id', () => {
    const orderId = newOrderId(2, T0);
    const ids = ['scheduling', 'pre-processing', 'processing', 'post-processing'].map((s) =>
      stepJobId(orderId, s),
    );
    expect(new Set(ids).size).toBe(4);
  });
});
