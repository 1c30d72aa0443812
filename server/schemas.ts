// The API's zod schemas: they validate requests and generate the OpenAPI document.
import { z } from '@hono/zod-openapi';
import {
  ATTEMPT_OUTCOMES,
  CURRENT_STEPS,
  ORDER_STATUSES,
  type OrderRecord,
  STEP_STATUSES,
  STEPS,
} from '../shared/domain/order.js';
import { hasGeneratedIdForm } from '../shared/order-id.js';

/**
 * Code points no order field may carry: C0, DEL and C1 (\p{Cc}); the bidi embeddings, overrides and
 * isolates (U+202A–U+202E, U+2066–U+2069), which make a name render in another order than it is stored
 * (the "Trojan Source" trick, on the dashboard and in an operator's terminal) and which real
 * right-to-left text never needs, as the bidi algorithm orders it without them; the line and paragraph
 * separators U+2028/U+2029, line breaks by another name; and lone surrogates (\p{Cs}), which have no
 * UTF-8 form, so the store would keep U+FFFD instead. Marks (U+200E/U+200F) and joiners stay allowed:
 * mixed-direction names and emoji sequences need them.
 */
const NO_CONTROL_CHARS = /^[^\p{Cc}\p{Cs}\u202A-\u202E\u2066-\u2069\u2028\u2029]*$/u;

/**
 * The one shape of every string of an order: `min` (1 unless said) to `max` UTF-16 units, none of
 * them a control character. A pattern rather than a refinement, so the OpenAPI document shows it to
 * clients too; set again by hand because the generator appends the regex's flags to it (`...$/u`).
 */
export const orderText = (max: number, min = 1) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(NO_CONTROL_CHARS, 'no control characters')
    .openapi({ pattern: NO_CONTROL_CHARS.source });

export const UserIdSchema = orderText(128).openapi({ example: 'user-42' });

const CLIENT_ORDER_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * A client's own order id: a charset that needs no escaping in a URL path or a log line, and never
 * the form of a generated id (`<shard>-<ULID>`), so that GET /orders/:order_id knows which it has.
 */
export const ClientOrderIdSchema = orderText(64)
  .regex(CLIENT_ORDER_ID, '1 to 64 of A-Z a-z 0-9 . _ : -')
  .refine((id) => !hasGeneratedIdForm(id), 'has the form of a generated order id (<shard>-<ULID>)')
  .openapi({
    pattern: CLIENT_ORDER_ID.source,
    description: 'your own id of the order, unique per user_id; not of the form <shard>-<ULID>',
    example: 'PO-2026-000123',
  });

/** An order line as the record stores it, whichever spelling the client sent (server/order-request.ts). */
export const OrderItemSchema = z.object({
  sku: z.string(),
  qty: z.number().int(),
  unit_price: z.number().optional().openapi({ description: 'absent when the client sent no price' }),
});

/** An order id in a URL: a generated `<shard>-<ULID>`, or a client order id (with ?user_id=). */
export const OrderIdSchema = z.string().min(1).max(64).openapi({
  example: '3-01JD3Z9T4S8X5Q2W7E6R1Y0U9K',
  description: 'the generated id (<shard>-<ULID>); in a URL, also a client order id with ?user_id=',
});

export const PlacementSchema = z
  .object({
    order_id: OrderIdSchema,
    client_order_id: z.string().nullable().openapi({ description: 'the order_id the request sent, if any' }),
    status: z.literal('accepted'),
    shard: z.number().int(),
    created_at: z.string(),
    links: z.object({ self: z.string() }),
  })
  .openapi('Placement');

const time = z
  .string()
  .nullable()
  .openapi({ description: 'ISO 8601 UTC with milliseconds, null when absent' });
const stepName = z.enum(STEPS);

/** A field of the record since issue 15: null when the request did not send it, absent on older records. */
const sinceIssue15 = <T extends z.ZodType>(schema: T, description: string) =>
  schema
    .nullable()
    .optional()
    .openapi({ description: `${description}; null when not sent` });

/** One run of a step, or of a step's undo. */
const AttemptSchema = z.object({
  node_id: z.string(),
  started_at: z.string(),
  ended_at: time,
  outcome: z.enum(ATTEMPT_OUTCOMES),
});

/** A cancellation of an order: the request, and where it stopped the order (null while pending). */
export const CancellationSchema = z
  .object({
    requested_at: z.string(),
    reason: z.string().nullable(),
    requested_by: z.string().nullable(),
    step: stepName
      .nullable()
      .openapi({ description: 'the step whose run it ended, or null if none had started' }),
    stopped_at: time.openapi({ description: 'when the order stopped going forward; null while pending' }),
    node_id: z.string().nullable().openapi({ description: 'the node whose run stopped it; null: the API' }),
  })
  .openapi('Cancellation');

/**
 * The order record as GET /orders/:id returns it (shared/domain/order.ts). Every enum is the domain's
 * own list, so a status or outcome added there is documented here without being listed twice.
 */
export const OrderSchema = z
  .object({
    order_id: OrderIdSchema,
    user_id: z.string(),
    shard: z.number().int(),
    status: z.enum(ORDER_STATUSES),
    current_step: z.enum(CURRENT_STEPS),
    created_at: z.string(),
    started_at: time,
    completed_at: time,
    items: z.array(OrderItemSchema),
    customer_name: z.string().nullable(),
    region: z.string().nullable(),
    client_order_id: sinceIssue15(z.string(), 'the order_id the request sent'),
    customer: sinceIssue15(
      z.object({ name: z.string().nullable(), email: z.string().nullable(), phone: z.string().nullable() }),
      'name (customer_name or customer.name), email and phone as sent',
    ),
    currency: sinceIssue15(z.string(), 'ISO 4217, upper case'),
    total: sinceIssue15(z.number(), 'as sent; equal to the sum of qty × unit_price when both were sent'),
    metadata: sinceIssue15(z.record(z.string(), z.string()), 'the flat string map, as sent'),
    steps: z.array(
      z.object({
        name: stepName,
        status: z.enum(STEP_STATUSES),
        started_at: time,
        completed_at: time,
        node_id: z.string().nullable(),
        attempts: z.array(AttemptSchema),
      }),
    ),
    failure: z.object({ step: stepName, reason: z.string() }).nullable(),
    rollback: z.array(
      z.object({
        step: stepName,
        started_at: z.string(),
        completed_at: time,
        node_id: z.string(),
        attempts: z.array(AttemptSchema).optional().openapi({
          description: 'every run of this undo; absent on entries written before runs were kept',
        }),
      }),
    ),
    cancellation: CancellationSchema.optional().openapi({
      description:
        'only on an order asked to cancel: who asked, when and why; step and stopped_at stay null until a run took the request in',
    }),
    rollback_failure: z
      .object({
        step: stepName.openapi({ description: 'the undo that was open (or next) when the rollback stopped' }),
        reason: z.string(),
        not_compensated: z.array(stepName).openapi({
          description: 'the steps still in effect, in the order the rollback would have undone them',
        }),
      })
      .optional()
      .openapi({
        description:
          'only on an order whose rollback was given up: it ended failed with steps not compensated',
      }),
  })
  .openapi('Order');

/**
 * Compile-time check that every record the store holds fits the documented schema: a field whose
 * type changes in the domain fails the type check here rather than the docs going stale.
 */
type Holds<T extends true> = T;
type _RecordFitsSchema = Holds<OrderRecord extends z.infer<typeof OrderSchema> ? true : false>;

/** GET /orders/:order_id: a client order id names an order only together with its user. */
export const OrderLookupQuerySchema = z.object({
  user_id: UserIdSchema.optional().openapi({
    description: 'required when order_id is a client order id (the order_id sent with the order)',
  }),
});

export const OrderListQuerySchema = z.object({
  user_id: UserIdSchema,
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: OrderIdSchema.optional(),
});

export const OrderListSchema = z
  .object({ orders: z.array(OrderSchema), next_cursor: z.string().nullable() })
  .openapi('OrderList');

export const ProblemSchema = z
  .object({ type: z.string(), title: z.string(), status: z.number().int(), detail: z.string() })
  .openapi('Problem');

/** The OpenAPI responses of a route's problem statuses, all application/problem+json. */
export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: 'problem', content: { 'application/problem+json': { schema: ProblemSchema } } },
    ]),
  );

/** A placement's 503: the order may still be stored, and a retry with `idempotency_key` returns it. */
export const PlacementUnavailableSchema = ProblemSchema.extend({
  idempotency_key: z.string().openapi({
    description: "the request's Idempotency-Key, or one made for it: a retry with it gets this order",
  }),
}).openapi('PlacementUnavailable');
