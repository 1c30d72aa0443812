// The order documents shops' clients send, against the real store: accepted as written and normalised,
// returned by the lookup and the listing, kept through processing; each rule's refusal writes nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../support/problems.js';
import { createTestSystem } from '../support/system.js';

const system = createTestSystem();
afterAll(() => system.close());

/** The second load-test client's body, byte for byte. */
const SHOP_BODY =
  '{"user_id": 512, "email": "buyer@example.com", "phone": "+1 (555) 010-2030", "items": [{"product_id": 1, "quantity": 2, "price": 9.99}], "total": 19.98}';

describe("when a shop's order document is posted as its client writes it", () => {
  it('is accepted, and the lookup and the listing return it normalised', async () => {
    const placed = await system.place(SHOP_BODY);
    expect(placed.status).toBe(202);
    const order = await system.get(`/orders/${placed.body.order_id}`);
    const expected = {
      order_id: placed.body.order_id,
      user_id: '512',
      items: [{ sku: '1', qty: 2, unit_price: 9.99 }],
      total: 19.98,
      currency: null,
      customer: { name: null, email: 'buyer@example.com', phone: '+1 (555) 010-2030' },
      customer_name: null,
      metadata: null,
      client_order_id: null,
    };
    expect(order.body).toMatchObject(expected);
    const listed = await system.get('/orders?user_id=512');
    expect(listed.body.orders).toEqual([order.body]);
  });

  it('keeps customer, currency, total and metadata as sent through every step', async () => {
    system.startNode();
    const metadata = { channel: 'web', 'z-last': 'first?', note: 'Grüße \u{1f4e6}', empty: '' };
    const placed = await system.place({
      user_id: 'doc-user',
      customer: { name: 'Zoë', email: 'zoe@example.com', phone: '+49 30 901820' },
      currency: 'EUR',
      items: [
        { sku: 'A-1', qty: 3, unit_price: 0.1 },
        { product_id: 77, quantity: 1, price: 5 },
      ],
      total: 5.3,
      metadata,
    });
    expect(placed.status).toBe(202);
    const done = await system.waitForTerminal(placed.body.order_id);
    expect(done.status).toBe('completed');
    expect(done).toMatchObject({
      customer_name: 'Zoë',
      customer: { name: 'Zoë', email: 'zoe@example.com', phone: '+49 30 901820' },
      currency: 'EUR',
      total: 5.3,
      items: [
        { sku: 'A-1', qty: 3, unit_price: 0.1 },
        { sku: '77', qty: 1, unit_price: 5 },
      ],
    });
    expect(Object.entries(done.metadata!)).toEqual(Object.entries(metadata));
  });
});

describe('when a cart of one is posted at the top level', () => {
  it('answers 400 pointing to items, and writes nothing', async () => {
    const before = await system.writtenKeys();
    const res = await system.place('{"user_id": 7, "product_id": 3, "quantity": 2}');
    expectProblem(res, 400, /items: send the product as items: \[\{ product_id, quantity \}\]/);
    expect(res.body.errors).toContainEqual({
      path: 'items',
      message: 'send the product as items: [{ product_id, quantity }]',
    });
    expect(await system.writtenKeys()).toEqual(before);
  });
});

describe('when a document breaks a rule', () => {
  const item = { product_id: 1, quantity: 2, price: 9.99 };
  it.each([
    [
      'an item with sku and product_id',
      { user_id: 'u', items: [{ ...item, sku: 'S' }] },
      /items\.0: has both sku and product_id/,
    ],
    [
      'an item with qty and quantity',
      { user_id: 'u', items: [{ ...item, qty: 2 }] },
      /items\.0: has both qty and quantity/,
    ],
    [
      'an item with no product',
      { user_id: 'u', items: [{ quantity: 1 }] },
      /items\.0: needs sku \(or product_id\)/,
    ],
    [
      'a total the items do not make',
      { user_id: 'u', items: [item], total: 20 },
      /total: is 20\.00 but the items sum to 19\.98/,
    ],
    [
      'a total over an unpriced item',
      { user_id: 'u', items: [{ sku: 'S', qty: 1 }], total: 1 },
      /items\.0: needs unit_price/,
    ],
    [
      'a price past the cent',
      { user_id: 'u', items: [{ ...item, price: 9.995 }] },
      /items\.0\.price: at most two decimals/,
    ],
    ['a malformed email', { user_id: 'u', email: 'buyer-at-example.com' }, /email: not an email address/],
    ['a phone of too few digits', { user_id: 'u', phone: '+1 555' }, /phone: 7 to 15 digits/],
    [
      'a phone with letters',
      { user_id: 'u', customer: { phone: '555-CALL' } },
      /customer\.phone: digits, spaces/,
    ],
    [
      'two different emails',
      { user_id: 'u', email: 'a@example.com', customer: { email: 'b@example.com' } },
      /email: differs from customer\.email/,
    ],
    ['a currency that is no code', { user_id: 'u', currency: 'E1R' }, /currency: an ISO 4217 code/],
    [
      'metadata over 4 KB',
      { user_id: 'u', metadata: { a: 'x'.repeat(2100), b: 'y'.repeat(2000) } },
      /metadata: over 4096 bytes/,
    ],
    ['nested metadata', { user_id: 'u', metadata: { a: { b: 'c' } } }, /metadata\.a: /],
    [
      'a control character in metadata',
      { user_id: 'u', metadata: { note: 'a\u202eb' } },
      /metadata\.note: no control characters/,
    ],
    [
      'a control character in an email',
      { user_id: 'u', email: 'a\u0000@example.com' },
      /email: no control characters/,
    ],
    ['a fractional user_id', { user_id: 1.5 }, /user_id: expected a string or an integer/],
    ['an unknown field', { user_id: 'u', shipping: 'fast' }, /unknown field\(s\): shipping/],
  ])('refuses %s with 400 problem+json naming the field, writing nothing', async (_, body, detail) => {
    const before = await system.writtenKeys();
    const res = await system.place(body);
    expectProblem(res, 400, detail);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await system.writtenKeys()).toEqual(before);
  });
});

describe('the OpenAPI document', () => {
  it('shows each accepted spelling of the request and the new fields of the record', async () => {
    const { body } = await system.get('/openapi.json');
    const request = body.components.schemas.OrderRequest;
    expect(Object.keys(request.properties)).toEqual(
      expect.arrayContaining(['order_id', 'email', 'phone', 'customer', 'currency', 'total', 'metadata']),
    );
    expect(request.properties.user_id.anyOf.map((s: { type: string }) => s.type)).toEqual([
      'string',
      'integer',
    ]);
    const itemFields = Object.keys(request.properties.items.items.properties);
    expect(itemFields).toEqual(['sku', 'product_id', 'qty', 'quantity', 'unit_price', 'price']);
    const order = body.components.schemas.Order.properties;
    for (const field of ['client_order_id', 'customer', 'currency', 'total', 'metadata']) {
      expect(order, field).toHaveProperty(field);
    }
    const lookup = body.paths['/orders/{order_id}'].get.parameters.map((p: { name: string }) => p.name);
    expect(lookup).toEqual(['order_id', 'user_id']);
  });
});
