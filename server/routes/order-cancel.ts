// POST /orders/:order_id/cancel, public like placement: the customer's backend cancels its orders.
import { createRoute, z } from '@hono/zod-openapi';
import type { cancelOutcome } from '../../shared/domain/cancel-plan.js';
import { ORDER_STATUSES } from '../../shared/domain/order.js';
import { withTimeout } from '../../shared/store.js';
import type { Cancellation } from '../orders/cancel-order.js';
import type { OrderLocator } from '../orders/order-locator.js';
import { createRouter } from '../router.js';
import {
  CancellationSchema,
  OrderIdSchema,
  OrderLookupQuerySchema,
  orderText,
  problemResponses,
} from '../schemas.js';

export const CancelBodySchema = z
  .object({
    reason: orderText(500).optional().openapi({ example: 'customer changed their mind' }),
    requested_by: orderText(128)
      .optional()
      .openapi({ description: 'who asks, for the record', example: 'support:jane' }),
  })
  .strict()
  .openapi('CancelRequest');

const OUTCOMES = ['cancelled', 'cancelling', 'failed', 'completed'] as const satisfies readonly ReturnType<
  typeof cancelOutcome
>[];

export const CancelAnswerSchema = z
  .object({
    order_id: OrderIdSchema,
    status: z.enum(ORDER_STATUSES),
    outcome: z.enum(OUTCOMES).openapi({
      description:
        'cancelled; cancelling (a run takes the request in within about a second, then its completed steps are undone); failed: a step failure overtook the cancel',
    }),
    cancellation: CancellationSchema,
    links: z.object({ self: z.string(), events: z.string() }),
  })
  .openapi('CancelAnswer');

const cancelRoute = createRoute({
  method: 'post',
  path: '/orders/{order_id}/cancel',
  summary:
    'Cancel an order: at once if no step started, else its running step stops and its completed steps are undone',
  description:
    'Repeating a cancel answers the first request again. order_id is the generated id, or a client order id with ?user_id=',
  request: {
    params: z.object({ order_id: OrderIdSchema }),
    query: OrderLookupQuerySchema,
    body: { required: false, content: { 'application/json': { schema: CancelBodySchema } } },
  },
  responses: {
    200: {
      description: 'cancelled (or overtaken by a failure)',
      content: { 'application/json': { schema: CancelAnswerSchema } },
    },
    202: {
      description: 'cancelling: the request is stored',
      content: { 'application/json': { schema: CancelAnswerSchema } },
    },
    ...problemResponses(400, 404, 409, 413, 415, 503),
  },
});

/** How long a cancel may wait for the store, as placement's budget. */
const CANCEL_BUDGET_MS = 3000;

export interface CancelRoutesDeps {
  locator: OrderLocator;
  cancellation: Cancellation;
}

/** The cancel sub-app. */
export function createCancelRoutes({ locator, cancellation }: CancelRoutesDeps) {
  const app = createRouter();
  app.openapi(cancelRoute, async (c) => {
    const orderId = await locator.locateOrder(c.req.valid('param').order_id, c.req.valid('query').user_id);
    // A store that does not answer gets a 503 with Retry-After; a retry is safe, answered as a repeat.
    const answer = await withTimeout(
      cancellation.cancel(orderId, c.req.valid('json')),
      CANCEL_BUDGET_MS,
      'the cancel',
    );
    return c.json(answer.body, answer.httpStatus);
  });
  return app;
}
