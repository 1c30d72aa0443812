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
 * The one shape of every string of an order: 1 to `max` UTF-16 units, none of them a control
 * character. A pattern rather than a refinement, so the OpenAPI document shows it to clients too;
 * set again by hand because the generator appends the regex's flags to it (`...$/u`).
 */
export const orderText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(NO_CONTROL_CHARS, 'no control characters')
    .openapi({ pattern: NO_CONTROL_CHARS.source });

export const OrderItemSchema = z
  .object({
    sku: orderText(64),
    qty: z.number().int().min(1).max(10_000),
  })
  .strict();

export const OrderRequestSchema = z
  .object({
    user_id: orderText(128).openapi({ example: 'user-42' }),
    items: z.array(OrderItemSchema).max(100).optional(),
    customer_name: orderText(200).optional(),
    region: orderText(64).optional(),
  })
  .strict()
  .openapi('OrderRequest');

export const OrderIdSchema = z.string().min(1).max(64).openapi({ example: '3-01JD3Z9T4S8X5Q2W7E6R1Y0U9K' });

export const PlacementSchema = z
  .object({
    order_id: OrderIdSchema,
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

/** One run of a step, or of a step's undo. */
const AttemptSchema = z.object({
  node_id: z.string(),
  started_at: z.string(),
  ended_at: time,
  outcome: z.enum(ATTEMPT_OUTCOMES),
});

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

export const OrderListQuerySchema = z.object({
  user_id: OrderRequestSchema.shape.user_id,
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: OrderIdSchema.optional(),
});

export const OrderListSchema = z
  .object({ orders: z.array(OrderSchema), next_cursor: z.string().nullable() })
  .openapi('OrderList');

export const ProblemSchema = z
  .object({ type: z.string(), title: z.string(), status: z.number().int(), detail: z.string() })
  .openapi('Problem');

/** A placement's 503: the order may still be stored, and a retry with `idempotency_key` returns it. */
export const PlacementUnavailableSchema = ProblemSchema.extend({
  idempotency_key: z.string().openapi({
    description: "the request's Idempotency-Key, or one made for it: a retry with it gets this order",
  }),
}).openapi('PlacementUnavailable');
