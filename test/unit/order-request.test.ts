// The body of POST /orders (server/order-request.ts): each spelling normalised to one request, each rule's refusal.
import { describe, expect, it } from 'vitest';
import { OrderRequestSchema } from '../../server/order-request.js';
import { requestHash } from '../../server/orders/placement-key.js';
import { newOrder } from '../../shared/domain/order.js';

const parse = (body: unknown) => OrderRequestSchema.parse(body);

/** The issues of a refused body, as `path: message`, the way the 400 problem lists them. */
function refusals(body: unknown): string[] {
  const result = OrderRequestSchema.safeParse(body);
  if (result.success) throw new Error(`accepted: ${JSON.stringify(result.data)}`);
  return result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('when a body has the original shape', () => {
  it('normalises to the very object it was, so fingerprints made before still match', () => {
    const body = { user_id: 'u', items: [{ sku: 'A', qty: 2 }], customer_name: 'Ann', region: 'eu' };
    expect(parse(body)).toStrictEqual(body);
  });
});

describe("when a shop's client spells the order another way", () => {
  it('accepts the second load-test body exactly as written', () => {
    const body = {
      user_id: 512,
      email: 'buyer@example.com',
      phone: '+44 20 7946 0958',
      items: [{ product_id: 1, quantity: 2, price: 9.99 }],
      total: 19.98,
    };
    expect(parse(body)).toStrictEqual({
      user_id: '512',
      email: 'buyer@example.com',
      phone: '+44 20 7946 0958',
      items: [{ sku: '1', qty: 2, unit_price: 9.99 }],
      total: 19.98,
    });
  });

  it('gives equivalent spellings one fingerprint', () => {
    const a = {
      user_id: 7,
      items: [{ product_id: 'P-1', quantity: 3, price: 1.5 }],
      customer: { name: 'Ann', email: 'a@example.com', phone: '+1 555 010 2030' },
      currency: 'eur',
    };
    const b = {
      currency: 'EUR',
      customer_name: 'Ann',
      email: 'a@example.com',
      phone: '+1 555 010 2030',
      items: [{ unit_price: 1.5, qty: 3, sku: 'P-1' }],
      user_id: '7',
    };
    expect(requestHash(parse(a))).toBe(requestHash(parse(b)));
    expect(requestHash(parse({ ...b, metadata: { x: '1', y: '2' } }))).toBe(
      requestHash(parse({ ...b, metadata: { y: '2', x: '1' } })),
    );
    expect(requestHash(parse({ ...b, order_id: 'PO-1' }))).not.toBe(requestHash(parse(b)));
  });

  it('stores the customer, currency, total, metadata and client order id on the record', () => {
    const request = parse({
      user_id: 'u',
      order_id: 'PO:7.1',
      customer: { email: 'a@example.com' },
      currency: 'usd',
      items: [{ sku: 'A', qty: 2, unit_price: 0.1 }],
      total: 0.2,
      metadata: { channel: 'web', 'emoji-\u{1f600}': '' },
    });
    const order = newOrder('3-01JHMXBCG05HV25QB0YED8HWWM', 3, request, new Date(0));
    expect(order).toMatchObject({
      client_order_id: 'PO:7.1',
      customer: { name: null, email: 'a@example.com', phone: null },
      currency: 'USD',
      total: 0.2,
      items: [{ sku: 'A', qty: 2, unit_price: 0.1 }],
      metadata: { channel: 'web', 'emoji-\u{1f600}': '' },
    });
    expect(newOrder('3-01JHMXBCG05HV25QB0YED8HWWM', 3, parse({ user_id: 'u' }), new Date(0))).toMatchObject({
      client_order_id: null,
      customer: null,
      currency: null,
      total: null,
      metadata: null,
    });
  });
});

describe('when a body breaks a rule', () => {
  it.each([
    [
      'a single product at the top level',
      { user_id: 7, product_id: 3, quantity: 2 },
      ['Unrecognized keys', 'items: send the product as items: [{ product_id, quantity }]'],
    ],
    [
      'sku and product_id in one item',
      { user_id: 'u', items: [{ sku: 'a', product_id: 1, qty: 1 }] },
      ['items.0: has both sku and product_id'],
    ],
    [
      'qty and quantity in one item',
      { user_id: 'u', items: [{ sku: 'a', qty: 1, quantity: 1 }] },
      ['items.0: has both qty and quantity'],
    ],
    [
      'price and unit_price in one item',
      { user_id: 'u', items: [{ sku: 'a', qty: 1, price: 1, unit_price: 1 }] },
      ['items.0: has both unit_price and price'],
    ],
    [
      'an item without a product',
      { user_id: 'u', items: [{ sku: 'a', qty: 1 }, { quantity: 1 }] },
      ['items.1: needs sku (or product_id)'],
    ],
    [
      'an item without a quantity',
      { user_id: 'u', items: [{ product_id: 2 }] },
      ['items.0: needs qty (or quantity)'],
    ],
    [
      'a fractional product id',
      { user_id: 'u', items: [{ product_id: 1.5, qty: 1 }] },
      ['items.0.product_id: expected a string or an integer'],
    ],
    [
      'a price past the cent',
      { user_id: 'u', items: [{ sku: 'a', qty: 1, price: 9.999 }] },
      ['items.0.price: at most two decimals'],
    ],
    ['a negative price', { user_id: 'u', items: [{ sku: 'a', qty: 1, price: -1 }] }, ['items.0.price']],
    [
      'a total the items do not sum to',
      { user_id: 'u', items: [{ sku: 'a', qty: 2, price: 9.99 }], total: 19.99 },
      ['total: is 19.99 but the items sum to 19.98'],
    ],
    [
      'a total with an unpriced item',
      { user_id: 'u', items: [{ sku: 'a', qty: 1 }], total: 1 },
      ['items.0: needs unit_price (or price) when total is sent'],
    ],
    [
      'a total without items that is not 0',
      { user_id: 'u', total: 5 },
      ['total: is 5.00 but the items sum to 0.00'],
    ],
    ['a boolean user_id', { user_id: true }, ['user_id: expected a string or an integer']],
    ['a fractional user_id', { user_id: 7.5 }, ['user_id: expected a string or an integer']],
    ['a malformed email', { user_id: 'u', email: 'nobody' }, ['email: not an email address']],
    [
      'a malformed customer email',
      { user_id: 'u', customer: { email: 'a@' } },
      ['customer.email: not an email address'],
    ],
    [
      'a phone with letters',
      { user_id: 'u', phone: '+1 555 CALL NOW' },
      ['phone: digits, spaces and + - ( ) only'],
    ],
    ['a phone of 6 digits', { user_id: 'u', phone: '12-34-56' }, ['phone: 7 to 15 digits']],
    ['a phone of 16 digits', { user_id: 'u', phone: '+1234567890123456' }, ['phone: 7 to 15 digits']],
    [
      'two different emails',
      { user_id: 'u', email: 'a@example.com', customer: { email: 'b@example.com' } },
      ['email: differs from customer.email'],
    ],
    [
      'two different names',
      { user_id: 'u', customer_name: 'Ann', customer: { name: 'Bob' } },
      ['customer_name: differs from customer.name'],
    ],
    [
      'an unknown customer field',
      { user_id: 'u', customer: { name: 'Ann', address: 'x' } },
      ['customer: Unrecognized key'],
    ],
    ['a currency of four letters', { user_id: 'u', currency: 'EURO' }, ['currency: an ISO 4217 code']],
    ['a currency with a digit', { user_id: 'u', currency: 'E1R' }, ['currency: an ISO 4217 code']],
    ['nested metadata', { user_id: 'u', metadata: { a: { b: 'c' } } }, ['metadata.a']],
    ['a number in metadata', { user_id: 'u', metadata: { a: 1 } }, ['metadata.a']],
    [
      'a control character in metadata',
      { user_id: 'u', metadata: { a: 'x\u0000' } },
      ['metadata.a: no control characters'],
    ],
    [
      'metadata over 4 KB',
      { user_id: 'u', metadata: { k: 'x'.repeat(4096) } },
      ['metadata: over 4096 bytes'],
    ],
    ['a client order id with a slash', { user_id: 'u', order_id: 'a/b' }, ['order_id: 1 to 64 of']],
    ['a client order id of 65 characters', { user_id: 'u', order_id: 'x'.repeat(65) }, ['order_id']],
    [
      'a client order id in the generated form',
      { user_id: 'u', order_id: '3-01JHMXBCG05HV25QB0YED8HWWM' },
      ['order_id: has the form of a generated order id'],
    ],
  ])('refuses %s, naming the field', (_, body, expected) => {
    const found = refusals(body);
    for (const part of expected)
      expect(
        found.some((f) => f.includes(part)),
        `${part} in ${found}`,
      ).toBe(true);
  });

  it('counts metadata in UTF-8 bytes, not characters', () => {
    const fits = { user_id: 'u', metadata: { k: 'x'.repeat(4095) } };
    expect(parse(fits).metadata).toEqual(fits.metadata);
    // 2,048 two-byte characters: 4,096 bytes, plus the key's one.
    expect(refusals({ user_id: 'u', metadata: { k: '\u00e9'.repeat(2048) } })).toEqual([
      'metadata: over 4096 bytes (UTF-8 of keys and values)',
    ]);
  });

  it('refuses __proto__ as a metadata key rather than dropping it', () => {
    expect(refusals(JSON.parse('{"user_id":"u","metadata":{"__proto__":"x"}}'))).toEqual([
      'metadata.__proto__: is a reserved key',
    ]);
  });
});
