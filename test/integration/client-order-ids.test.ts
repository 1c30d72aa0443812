// Client-chosen order ids against the real store: unique per user, the order's idempotency key, and a
// way to look the order up (GET /orders/<client id>?user_id=U).
import { afterAll, describe, expect, it } from 'vitest';
import { createPlacement } from '../../server/orders/place-order.js';
import { PlacementProducer } from '../../server/orders/placement-producer.js';
import { createLogger } from '../../shared/logger.js';
import { shardOf } from '../../shared/sharding.js';
import { expectProblem } from '../support/problems.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem();
const producer = new PlacementProducer({ connection: system.store });
afterAll(async () => {
  await producer.close();
  await system.close();
});

const idsOf = async (user: string) =>
  (await system.get(`/orders?user_id=${user}`)).body.orders.map((o: { order_id: string }) => o.order_id);

describe('when a client order id comes again', () => {
  it('returns the same order for the same body, in another spelling too, as a replay', async () => {
    const body = { order_id: 'PO-1', user_id: 'cid-user', items: [{ sku: 'A', qty: 2, unit_price: 1.25 }] };
    const first = await system.place(body);
    const again = await system.place({
      user_id: 'cid-user',
      order_id: 'PO-1',
      items: [{ product_id: 'A', quantity: 2, price: 1.25 }],
    });
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(first.body).toMatchObject({ client_order_id: 'PO-1', status: 'accepted' });
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.body.order_id).toBe(first.body.order_id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await idsOf('cid-user')).toEqual([first.body.order_id]);
  });

  it('answers 409 problem+json for another body and stores nothing new', async () => {
    const first = await system.place({ order_id: 'PO-2', user_id: 'cid-user-2', region: 'eu' });
    const before = await system.writtenKeys();
    const conflict = await system.place({ order_id: 'PO-2', user_id: 'cid-user-2', region: 'us' });
    expectProblem(conflict, 409, /order_id "PO-2" was used with a different request body/);
    expect(await system.writtenKeys()).toEqual(before);
    expect(await idsOf('cid-user-2')).toEqual([first.body.order_id]);
  });

  it('gives concurrent requests with one client order id one order', async () => {
    const body = { order_id: 'PO-RACE', user_id: 'cid-race' };
    const results = await Promise.all(Array.from({ length: 10 }, () => system.place(body)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(202));
    expect(new Set(results.map((r) => r.body.order_id)).size).toBe(1);
    expect(await idsOf('cid-race')).toHaveLength(1);
  });

  it('waits for a replica on a replay as on a first placement', async () => {
    const waits: string[] = [];
    const placement = createPlacement({
      config: system.config,
      keyspace: system.keyspace,
      orders: system.orders,
      producer,
      logger: createLogger(system.config, { service: 'test' }),
      replicas: {
        confirm: async () => void waits.push('confirm'),
        confirmRead: async () => void waits.push('confirm-read'),
      },
    });
    const request = { user_id: 'cid-wait', client_order_id: 'PO-W' };
    const first = await placement.placeOrder(request);
    const replay = await placement.placeOrder(request);
    expect(replay).toEqual({ ...first, replayed: true });
    expect(waits).toEqual(['confirm', 'confirm-read']);
  });
});

describe('when two users send the same client order id', () => {
  it('makes two orders, even on one shard', async () => {
    const a = 'cid-a';
    const shard = shardOf(a, system.keyspace.shards);
    const b = Array.from({ length: 200 }, (_, i) => `cid-b${i}`).find(
      (user) => shardOf(user, system.keyspace.shards) === shard,
    )!;
    const first = await system.place({ order_id: 'SAME-1', user_id: a });
    const second = await system.place({ order_id: 'SAME-1', user_id: b });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.body.shard).toBe(first.body.shard);
    expect(second.body.order_id).not.toBe(first.body.order_id);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect((await system.get(`/orders/SAME-1?user_id=${a}`)).body.order_id).toBe(first.body.order_id);
    expect((await system.get(`/orders/SAME-1?user_id=${b}`)).body.order_id).toBe(second.body.order_id);
  });
});

describe('when an order is looked up by its client order id', () => {
  it('finds it with its user_id, and the answer round-trips to the Location given', async () => {
    const placed = await system.place({ order_id: 'Shop.9:x_1', user_id: 4711, currency: 'EUR' });
    expect(placed.status).toBe(202);
    const byClientId = await system.get('/orders/Shop.9:x_1?user_id=4711');
    expect(byClientId.status).toBe(200);
    expect(byClientId.body).toMatchObject({
      order_id: placed.body.order_id,
      client_order_id: 'Shop.9:x_1',
      user_id: '4711',
      currency: 'EUR',
    });
    const location = placed.headers.get('location')!;
    expect((await system.get(location)).body).toEqual(byClientId.body);
    const listed = (await system.get('/orders?user_id=4711')).body.orders;
    expect(listed).toEqual([byClientId.body]);
  });

  it('answers 404 for another user, and 400 without a user_id', async () => {
    await system.place({ order_id: 'MINE-1', user_id: 'cid-owner' });
    expectProblem(await system.get('/orders/MINE-1?user_id=cid-stranger'), 404, /no order MINE-1/);
    expectProblem(await system.get('/orders/MINE-1'), 400, /client order id needs \?user_id=/);
    expectProblem(await system.get('/orders/NEVER-1?user_id=cid-owner'), 404, /no order NEVER-1/);
  });
});

describe('when an Idempotency-Key comes with an order_id', () => {
  it('accepts the same value, and refuses another with 400 writing nothing', async () => {
    const body = { order_id: 'PO-K', user_id: 'cid-keyed' };
    const first = await system.place(body, { 'idempotency-key': 'PO-K' });
    const replay = await system.place(body);
    expect(replay.body.order_id).toBe(first.body.order_id);
    const before = await system.writtenKeys();
    const refused = await system.place({ ...body, order_id: 'PO-K2' }, { 'idempotency-key': 'PO-K' });
    expectProblem(refused, 400, /Idempotency-Key differs from order_id/);
    expect(await system.writtenKeys()).toEqual(before);
  });
});

describe('when a client order id is malformed', () => {
  it.each([
    ['a slash', 'a/b'],
    ['a space', 'a b'],
    ['65 characters', 'x'.repeat(65)],
    ['the empty string', ''],
    ['the form of a generated id', '3-01M80JV79NTQ7XXBSS5QWYK3Y1'],
  ])('refuses one with %s with 400 naming order_id, writing nothing', async (_, orderId) => {
    const before = await system.writtenKeys();
    const res = await system.place({ order_id: orderId, user_id: 'cid-bad' });
    expectProblem(res, 400, /^order_id: /);
    expect(await system.writtenKeys()).toEqual(before);
  });
});
