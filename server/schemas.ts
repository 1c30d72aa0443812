// The API's zod schemas: they validate requests and generate the OpenAPI document.
import { z } from '@hono/zod-openapi';
import { STEPS } from '../shared/domain/order.js';

const noControlChars = /^[^\p{Cc}]+$/u;

export const OrderItemSchema = z
  .object({
    sku: z.string().min(1).max(64).regex(noControlChars, 'no control characters'),
    qty: z.number().int().min(1).max(10_000),
  })
  .strict();

export const OrderRequestSchema = z
  .object({
    user_id: z
      .string()
      .min(1)
      .max(128)
      .regex(noControlChars, 'no control characters')
      .openapi({ example: 'user-42' }),
    items: z.array(OrderItemSchema).max(100).optional(),
    customer_name: z.string().min(1).max(200).optional(),
    region: z.string().min(1).max(64).optional(),
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

export const OrderSchema = z
  .object({
    order_id: OrderIdSchema,
    user_id: z.string(),
    shard: z.number().int(),
    status: z.enum(['accepted', 'in_progress', 'rolling_back', 'completed', 'failed']),
    current_step: z.enum([...STEPS, 'completed', 'failed']),
    created_at: z.string(),
    started_at: time,
    completed_at: time,
    items: z.array(OrderItemSchema),
    customer_name: z.string().nullable(),
    region: z.string().nullable(),
    steps: z.array(
      z.object({
        name: stepName,
        status: z.enum(['pending', 'running', 'completed', 'failed', 'compensated']),
        started_at: time,
        completed_at: time,
        node_id: z.string().nullable(),
        attempts: z.array(
          z.object({
            node_id: z.string(),
            started_at: z.string(),
            ended_at: time,
            outcome: z.enum(['running', 'completed', 'failed', 'abandoned', 'error']),
          }),
        ),
      }),
    ),
    failure: z.object({ step: stepName, reason: z.string() }).nullable(),
    rollback: z.array(
      z.object({ step: stepName, started_at: z.string(), completed_at: time, node_id: z.string() }),
    ),
  })
  .openapi('Order');

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
