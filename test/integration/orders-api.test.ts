// The orders API against the real store: idempotency and every kind of bad input, none leaving a write.
import { type Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ATTEMPT_OUTCOMES,
  CURRENT_STEPS,
  ORDER_STATUSES,
  STEP_STATUSES,
  STEPS,
} from '../../shared/domain/order.js';
import { keySlot, shardOf } from '../../shared/sharding.js';
import { expectProblem } from '../support/problems.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem();
afterAll(() => system.close());

const writtenKeys = () => system.writtenKeys();

describe('when the same Idempotency-Key comes again', () => {
  it('returns the same order for the same body, in any key order', async () => {
    const body = { user_id: 'idem-user', region: 'eu', items: [{ sku: 'S', qty: 1 }] };
    const first = await system.place(body, { 'idempotency-key': 'k-1' });
    const again = await system.place(
      { items: [{ qty: 1, sku: 'S' }], region: 'eu', user_id: 'idem-user' },
      { 'idempotency-key': 'k-1' },
    );
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.order_id).toBe(first.body.order_id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const listed = await system.get('/orders?user_id=idem-user');
    expect(listed.body.orders).toHaveLength(1);
  });

  it('answers 409 for another body and stores nothing new', async () => {
    const first = await system.place({ user_id: 'idem-user-2' }, { 'idempotency-key': 'k-2' });
    const conflict = await system.place(
      { user_id: 'idem-user-2', region: 'us' },
      { 'idempotency-key': 'k-2' },
    );
    await expectProblem(conflict, 409, /different request body/);
    const listed = await system.get('/orders?user_id=idem-user-2');
    expect(listed.body.orders.map((o: { order_id: string }) => o.order_id)).toEqual([first.body.order_id]);
  });

  it('gives concurrent requests with one key one order', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, () => system.place({ user_id: 'idem-race' }, { 'idempotency-key': 'race' })),
    );
    expect(results.every((r) => r.status === 202)).toBe(true);
    expect(new Set(results.map((r) => r.body.order_id)).size).toBe(1);
    expect((await system.get('/orders?user_id=idem-race')).body.orders).toHaveLength(1);
  });

  it('scopes keys per user: another user with the same key gets an order of their own', async () => {
    const a = await system.place({ user_id: 'scope-a' }, { 'idempotency-key': 'shared-key' });
    const b = await system.place({ user_id: 'scope-b' }, { 'idempotency-key': 'shared-key' });
    expect(b.body.order_id).not.toBe(a.body.order_id);
  });
});

describe('when an order is acknowledged', () => {
  it('is already on a replica of its shard master (WAIT on the connection that wrote)', async () => {
    const placed = await system.place({ user_id: 'durable-user' });
    expect(placed.status).toBe(202);
    const keys = system.keyspace.shard(placed.body.shard);
    const cluster = system.store as Cluster;
    const masterAddress = cluster.slots[keySlot(`{${keys.tag}}`)]![0]!;
    const master = cluster
      .nodes('master')
      .find((n) => `${n.options.host}:${n.options.port}` === masterAddress)!;
    // Asked of the master itself: Redis 7 lists a replica in CLUSTER SLOTS only once it has data.
    const [, host, port] = /slave0:ip=([^,]+),port=(\d+)/.exec(await master.info('replication'))!;
    const replica = new Redis({ host, port: Number(port), lazyConnect: true });
    try {
      await replica.connect();
      await replica.call('READONLY');
      const doc = await replica.hget(keys.order(placed.body.order_id), 'doc');
      expect(JSON.parse(doc!)).toMatchObject({ order_id: placed.body.order_id, user_id: 'durable-user' });
    } finally {
      replica.disconnect();
    }
  });
});

describe('when the input is bad', () => {
  it('answers 4xx problem+json and writes nothing', async () => {
    const before = await writtenKeys();
    const cases: Array<[Promise<{ status: number; body: any }>, number, RegExp]> = [
      [system.place('{"user_id": '), 400, /Malformed JSON/],
      [system.place('[]'), 400, /expected object/],
      [system.place({}), 400, /user_id: is required/],
      [system.place({ user_id: '' }), 400, /user_id/],
      [system.place({ user_id: 'x'.repeat(129) }), 400, /user_id/],
      [system.place({ user_id: 'a\u0001b' }), 400, /control characters/],
      [system.place({ user_id: 'u', extra: true }), 400, /unknown field\(s\): extra/],
      [system.place({ user_id: 'u', items: [{ sku: 'a', qty: 0 }] }), 400, /items\.0\.qty/],
      [system.place({ user_id: 'u', items: [{ sku: 'a', qty: 1.5 }] }), 400, /items\.0\.qty/],
      [system.place({ user_id: 'u', items: 'many' }), 400, /items/],
      [system.place({ user_id: 'u', customer_name: 'x'.repeat(20_000) }), 413, /over 16384 bytes/],
      [
        // Declared by Content-Length (as every HTTP client but a chunked one sends it): refused unread.
        system.place(JSON.stringify({ user_id: 'u', customer_name: 'x'.repeat(20_000) }), {
          'content-length': String(20_000 + 36),
        }),
        413,
        /over 16384 bytes/,
      ],
      [system.place({ user_id: 'u' }, { 'idempotency-key': 'has space' }), 400, /idempotency-key/],
      [system.place({ user_id: 'u' }, { 'content-type': 'text/plain' }), 415, /application\/json/],
      [system.get('/orders/not-an-id'), 400, /client order id needs \?user_id=/],
      [system.get('/orders/not%20an%20id?user_id=u'), 400, /malformed order id/],
      [system.get('/orders/99-01M80JV79NTQ7XXBSS5QWYK3Y1'), 400, /malformed order id/],
      [system.get('/orders/3-01M80JV79NTQ7XXBSS5QWYK3Y1'), 404, /no order/],
      [system.get('/orders'), 400, /user_id: is required/],
      [system.get('/orders?user_id=u&limit=0'), 400, /limit/],
      [system.get('/orders?user_id=u&limit=abc'), 400, /limit/],
      [system.get('/orders?user_id=u&cursor=bogus'), 400, /cursor/],
      [
        system.get(`/orders?user_id=u&cursor=${(shardOf('u', 12) + 1) % 12}-01M80JV79NTQ7XXBSS5QWYK3Y1`),
        400,
        /cursor/,
      ],
      [system.get('/nowhere'), 404, /no route/],
    ];
    for (const [response, status, detail] of cases) await expectProblem(await response, status, detail);
    expect(await writtenKeys()).toEqual(before);
  });

  it('labels every error response application/problem+json', async () => {
    const res = await system.app.request('/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });
});

describe('when a string field carries a control character', () => {
  /** C0, DEL, C1, bidi embeddings/overrides/isolates, line separators, and a lone surrogate (no UTF-8 for it). */
  const controls = {
    NUL: '\u0000',
    ESC: '\u001b',
    DEL: '\u007f',
    NEL: '\u0085',
    CSI: '\u009b',
    RLO: '\u202e',
    LRE: '\u202a',
    RLI: '\u2067',
    PDI: '\u2069',
    'LINE SEPARATOR': '\u2028',
    'lone surrogate': '\ud800',
  };
  const fields: Array<[string, (text: string) => Record<string, unknown>]> = [
    ['user_id', (text) => ({ user_id: text })],
    ['items.0.sku', (text) => ({ user_id: 'ctl-user', items: [{ sku: text, qty: 1 }] })],
    ['customer_name', (text) => ({ user_id: 'ctl-user', customer_name: text })],
    ['region', (text) => ({ user_id: 'ctl-user', region: text })],
  ];

  it.each(fields)(
    'refuses %s with 400 problem+json naming the field, writing nothing',
    async (field, body) => {
      const before = await writtenKeys();
      for (const [name, char] of Object.entries(controls)) {
        const res = await system.place(body(`ok${char}ok`));
        expect(res.status, name).toBe(400);
        expect(res.headers.get('content-type'), name).toBe('application/problem+json');
        expect(res.body.errors, name).toEqual([{ path: field, message: expect.stringMatching(/control/) }]);
      }
      expect(await writtenKeys()).toEqual(before);
    },
  );

  it.each([
    ['user_id', 129],
    ['items.0.sku', 65],
    ['customer_name', 201],
    ['region', 65],
  ] as const)('bounds the length of %s (%i characters refused)', async (field, length) => {
    const body = fields.find(([name]) => name === field)![1];
    const res = await system.place(body('x'.repeat(length)));
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual([field]);
  });

  it('accepts right-to-left names, marks and emoji sequences: text, not controls', async () => {
    for (const customer_name of [
      '\u05e9\u05dc\u05d5\u05dd',
      'Zo\u00eb \u200f\u0645\u062d\u0645\u062f',
      '\u{1f469}\u200d\u{1f4bb}',
    ]) {
      const res = await system.place({ user_id: 'text-user', customer_name, region: 'eu-west' });
      expect(res.status, customer_name).toBe(202);
      const order = await system.get(`/orders/${res.body.order_id}`);
      expect(order.body.customer_name).toBe(customer_name);
    }
  });
});

describe('the OpenAPI document', () => {
  it('describes the order routes from the same schemas that validate', async () => {
    const { status, body } = await system.get('/openapi.json');
    expect(status).toBe(200);
    expect(body.openapi).toBe('3.1.0');
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/orders', '/orders/{order_id}']));
    const request = body.components.schemas.OrderRequest;
    expect(request.required).toEqual(['user_id']);
    expect(request.additionalProperties).toBe(false);
  });

  it("documents the order record with the domain's own enums and every field it carries", async () => {
    const { body } = await system.get('/openapi.json');
    const order = body.components.schemas.Order;
    const step = order.properties.steps.items.properties;
    expect(order.properties.status.enum).toEqual([...ORDER_STATUSES]);
    expect(order.properties.current_step.enum).toEqual([...CURRENT_STEPS]);
    expect(step.name.enum).toEqual([...STEPS]);
    expect(step.status.enum).toEqual([...STEP_STATUSES]);
    expect(step.attempts.items.properties.outcome.enum).toEqual([...ATTEMPT_OUTCOMES]);
    const undo = order.properties.rollback.items;
    expect(undo.properties.attempts.items.properties.outcome.enum).toEqual([...ATTEMPT_OUTCOMES]);
    expect(undo.required).not.toContain('attempts'); // absent on entries written before runs were kept
    const given = order.properties.rollback_failure;
    expect(Object.keys(given.properties)).toEqual(['step', 'reason', 'not_compensated']);
    expect(order.required).not.toContain('rollback_failure');
  });
});
