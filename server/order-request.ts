// The body of POST /orders: each spelling the shops' clients send, checked, then normalised to one OrderRequest.
import { z } from '@hono/zod-openapi';
import type { OrderItem, OrderRequest } from '../shared/domain/order.js';
import { ClientOrderIdSchema, orderText, UserIdSchema } from './schemas.js';

/** A unit price's bound: 100 items × qty 10,000 × this, in cents, stays an exact integer (< 2^53). */
const MAX_UNIT_PRICE = 10_000_000;
/** What 100 items of qty 10,000 at the highest unit price come to. */
const MAX_TOTAL = 100 * 10_000 * MAX_UNIT_PRICE;
const METADATA_MAX_BYTES = 4096;
/** An item's fields, each with its two spellings: the first is the one stored. */
const SPELLINGS = [
  ['sku', 'product_id'],
  ['qty', 'quantity'],
  ['unit_price', 'price'],
] as const;
const ITEM_FIELDS = new Set<string>(SPELLINGS.flat());
const PHONE = /^\+?[0-9 ()-]+$/;
const CURRENCY = /^[A-Za-z]{3}$/;

/** A string, or an integer taken as its decimal string (clients of other systems send numeric ids). */
const textOrInteger = (text: z.ZodString) =>
  z
    .union([text, z.int()], {
      error: (issue) => (issue.input === undefined ? 'is required' : 'expected a string or an integer'),
    })
    .transform(String);

/** An amount in the order's currency, to the cent (currencies with 3 decimals are not supported). */
const money = (max: number) =>
  z
    .number()
    .min(0)
    .max(max)
    .multipleOf(0.01, 'at most two decimals (to the cent)')
    .openapi({ multipleOf: 0.01 });

const cents = (amount: number) => Math.round(amount * 100);

const quantity = z.number().int().min(1).max(10_000);

const ItemSchema = z
  .strictObject({
    sku: orderText(64).optional(),
    product_id: textOrInteger(orderText(64)).optional(),
    qty: quantity.optional(),
    quantity: quantity.optional(),
    unit_price: money(MAX_UNIT_PRICE).optional(),
    price: money(MAX_UNIT_PRICE).optional(),
  })
  .superRefine(function oneSpellingEach(item, ctx) {
    const [product, count] = SPELLINGS;
    for (const [stored, other] of SPELLINGS) {
      if (item[stored] !== undefined && item[other] !== undefined)
        ctx.addIssue({ code: 'custom', message: `has both ${stored} and ${other}: send one of them` });
    }
    for (const [stored, other] of [product, count]) {
      if (item[stored] === undefined && item[other] === undefined)
        ctx.addIssue({ code: 'custom', message: `needs ${stored} (or ${other})` });
    }
  })
  .transform((item): OrderItem => {
    // Both present for sure: oneSpellingEach refused the item otherwise.
    const stored = { sku: (item.sku ?? item.product_id)!, qty: (item.qty ?? item.quantity)! };
    const unitPrice = item.unit_price ?? item.price;
    return unitPrice === undefined ? stored : { ...stored, unit_price: unitPrice };
  })
  .openapi({
    description:
      'one spelling per field: sku or product_id (a string or an integer), qty or quantity, and optionally unit_price or price; stored as { sku, qty, unit_price }',
  });

const EmailSchema = orderText(254).email('not an email address');
const PhoneSchema = orderText(32)
  .regex(PHONE, 'digits, spaces and + - ( ) only')
  .refine((phone) => /^(\D*\d){7,15}\D*$/.test(phone), '7 to 15 digits')
  .openapi({ pattern: PHONE.source, description: 'E.164-like: digits, spaces and + - ( ), 7 to 15 digits' });

const CustomerSchema = z.strictObject({
  name: orderText(200).optional(),
  email: EmailSchema.optional(),
  phone: PhoneSchema.optional(),
});

const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8');

const metadataBytes = (map: Record<string, string>) =>
  Object.entries(map).reduce((sum, [key, value]) => sum + utf8Bytes(key) + utf8Bytes(value), 0);

/**
 * A flat string map. `__proto__` is refused before the record schema sees it: zod drops that key
 * silently, and metadata is to come back as it was sent.
 */
const MetadataSchema = z
  .preprocess(
    (map, ctx) => {
      if (map && typeof map === 'object' && Object.hasOwn(map, '__proto__'))
        ctx.addIssue({ code: 'custom', path: ['__proto__'], message: 'is a reserved key', input: map });
      return map;
    },
    z
      .record(orderText(128), orderText(METADATA_MAX_BYTES, 0))
      .refine(
        (map) => metadataBytes(map) <= METADATA_MAX_BYTES,
        `over ${METADATA_MAX_BYTES} bytes (UTF-8 of keys and values)`,
      ),
  )
  .openapi({
    description: `a flat string map, at most ${METADATA_MAX_BYTES} bytes of keys and values (UTF-8)`,
  });

const BodySchema = z.strictObject({
  order_id: ClientOrderIdSchema.optional(),
  user_id: textOrInteger(UserIdSchema).openapi({ description: 'an integer is taken as its decimal string' }),
  items: z.array(ItemSchema).max(100).optional(),
  customer_name: orderText(200).optional(),
  customer: CustomerSchema.optional(),
  email: EmailSchema.optional(),
  phone: PhoneSchema.optional(),
  region: orderText(64).optional(),
  currency: orderText(3)
    .regex(CURRENCY, 'an ISO 4217 code: three letters')
    .openapi({ pattern: CURRENCY.source, description: 'ISO 4217, three letters; stored upper case' })
    .transform((code) => code.toUpperCase())
    .optional(),
  total: money(MAX_TOTAL)
    .optional()
    .openapi({ description: 'checked against the items: the sum of qty × unit_price, to the cent' }),
  metadata: MetadataSchema.optional(),
});
type Body = z.infer<typeof BodySchema>;

/** Contact details sent twice (top level and in `customer`) must agree: which one to keep is not ours to guess. */
function sameContactTwice(body: Body, ctx: z.RefinementCtx): void {
  const pairs = [
    ['customer_name', body.customer_name, 'name', body.customer?.name],
    ['email', body.email, 'email', body.customer?.email],
    ['phone', body.phone, 'phone', body.customer?.phone],
  ] as const;
  for (const [top, topValue, inner, innerValue] of pairs) {
    if (topValue !== undefined && innerValue !== undefined && topValue !== innerValue)
      ctx.addIssue({ code: 'custom', path: [top], message: `differs from customer.${inner}: send it once` });
  }
}

/** `total`, when sent, is the sum of the items' qty × unit_price to the cent, so every item needs a price. */
function totalMatchesItems(body: Body, ctx: z.RefinementCtx): void {
  if (body.total === undefined) return;
  const items = body.items ?? [];
  let sum = 0;
  for (const [i, item] of items.entries()) {
    if (item.unit_price === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['items', i],
        message: 'needs unit_price (or price) when total is sent',
      });
      return;
    }
    sum += cents(item.unit_price) * item.qty;
  }
  if (sum !== cents(body.total))
    ctx.addIssue({
      code: 'custom',
      path: ['total'],
      message: `is ${body.total.toFixed(2)} but the items sum to ${(sum / 100).toFixed(2)} (qty × unit_price)`,
    });
}

/**
 * A single product sent at the top level (`{ user_id, product_id, quantity }`, a cart of one in other
 * order systems) is refused as unknown fields; this says where the product goes instead.
 */
function productAtTopLevel(ctx: z.RefinementCtx): void {
  const unknown = ctx.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' && !issue.path?.length ? issue.keys : [],
  );
  if (unknown.some((key) => ITEM_FIELDS.has(key)))
    ctx.addIssue({
      code: 'custom',
      path: ['items'],
      message: 'send the product as items: [{ product_id, quantity }]',
    });
}

/** One normalised request, whichever spelling came: what is stored, and what the idempotency hash covers. */
function normalise(body: Body): OrderRequest {
  const fields: OrderRequest = {
    user_id: body.user_id,
    client_order_id: body.order_id,
    items: body.items,
    customer_name: body.customer?.name ?? body.customer_name,
    email: body.customer?.email ?? body.email,
    phone: body.customer?.phone ?? body.phone,
    region: body.region,
    currency: body.currency,
    total: body.total,
    metadata: body.metadata,
  };
  // Absent stays absent, so a body of the original shape hashes as it did before these fields.
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as OrderRequest;
}

/**
 * The body of POST /orders. Validated, then normalised to the one OrderRequest that is stored and
 * fingerprinted; the OpenAPI document shows what a client may send (the generator documents a
 * transform's input).
 */
export const OrderRequestSchema = BodySchema.superRefine((body, ctx) => {
  productAtTopLevel(ctx);
  sameContactTwice(body, ctx);
  totalMatchesItems(body, ctx);
})
  .transform(normalise)
  .openapi('OrderRequest');
