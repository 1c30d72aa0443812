// The orders sub-app: place an order, read one, list a user's orders.
import { createRoute, z } from '@hono/zod-openapi';
import type { Keyspace } from '../../shared/keys.js';
import type { OrderStore } from '../../shared/order-store.js';
import { shardOf } from '../../shared/sharding.js';
import { BadRequestError, NotFoundError, UnsupportedMediaTypeError } from '../errors.js';
import { OrderRequestSchema } from '../order-request.js';
import { createOrderLocator } from '../orders/order-locator.js';
import type { PlacementService } from '../orders/place-order.js';
import { createRouter } from '../router.js';
import {
  OrderIdSchema,
  OrderListQuerySchema,
  OrderListSchema,
  OrderLookupQuerySchema,
  OrderSchema,
  PlacementSchema,
  PlacementUnavailableSchema,
  problemResponses,
} from '../schemas.js';

export interface OrderRoutesDeps {
  keyspace: Keyspace;
  orders: OrderStore;
  placement: PlacementService;
}

const problems = problemResponses;

const placeRoute = createRoute({
  method: 'post',
  path: '/orders',
  summary: 'Place an order; it is processed asynchronously',
  request: {
    headers: z.object({
      'idempotency-key': z
        .string()
        .regex(/^[\x21-\x7e]{1,128}$/, '1 to 128 visible ASCII characters')
        .optional()
        .openapi({
          description:
            'the same key with the same body returns the same order; with an order_id in the body, the same value or none',
        }),
    }),
    body: { required: true, content: { 'application/json': { schema: OrderRequestSchema } } },
  },
  responses: {
    202: {
      description: 'stored; processing follows',
      content: { 'application/json': { schema: PlacementSchema } },
    },
    ...problems(400, 409, 413, 415, 429),
    503: {
      description: 'not acknowledged: the order may still be stored; retry with the Idempotency-Key given',
      headers: z.object({ 'Idempotency-Key': z.string(), 'Retry-After': z.string() }),
      content: { 'application/problem+json': { schema: PlacementUnavailableSchema } },
    },
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/orders/{order_id}',
  summary: 'An order with its steps, attempts, failure and rollback',
  description: 'order_id is the generated id, or a client order id together with ?user_id=',
  request: { params: z.object({ order_id: OrderIdSchema }), query: OrderLookupQuerySchema },
  responses: {
    200: { description: 'the order', content: { 'application/json': { schema: OrderSchema } } },
    ...problems(400, 404, 503),
  },
});

const listRoute = createRoute({
  method: 'get',
  path: '/orders',
  summary: "A user's orders, newest first, by pages",
  request: { query: OrderListQuerySchema },
  responses: {
    200: { description: 'a page of orders', content: { 'application/json': { schema: OrderListSchema } } },
    ...problems(400, 503),
  },
});

/** The orders sub-app; validation failures answer 400 problem+json (server/router.ts). */
export function createOrderRoutes({ keyspace, orders, placement }: OrderRoutesDeps) {
  const app = createRouter();
  const locator = createOrderLocator({ keyspace, orders });

  // Checked before the body is parsed, so a form post is told what to send rather than what is missing.
  app.use('/orders', async function requireJson(c, next) {
    if (c.req.method === 'POST' && !/^application\/(.+\+)?json\b/i.test(c.req.header('content-type') ?? '')) {
      throw new UnsupportedMediaTypeError('send the order as application/json');
    }
    await next();
  });

  app.openapi(placeRoute, async (c) => {
    const request = c.req.valid('json');
    const key = c.req.valid('header')['idempotency-key'];
    const placed = await placement.placeOrder(request, key, { request_id: c.get('requestId') });
    const location = `/orders/${placed.order_id}`;
    c.header('Location', location);
    if (placed.replayed) c.header('Idempotent-Replayed', 'true');
    c.set('placement', placed); // for the request log and the metrics around this handler (server/context.ts)
    const body = {
      order_id: placed.order_id,
      client_order_id: placed.client_order_id,
      status: 'accepted' as const,
      shard: placed.shard,
      created_at: placed.created_at,
    };
    return c.json({ ...body, links: { self: location } }, 202);
  });

  app.openapi(getRoute, async (c) => {
    const orderId = await locator.locateOrder(c.req.valid('param').order_id, c.req.valid('query').user_id);
    const json = await orders.readJson(orderId);
    if (json === null) throw new NotFoundError(`no order ${orderId}`);
    return c.body(json, 200, { 'Content-Type': 'application/json' }) as never;
  });

  app.openapi(listRoute, async (c) => {
    const { user_id, limit, cursor } = c.req.valid('query');
    const shard = shardOf(user_id, keyspace.shards);
    if (cursor !== undefined && keyspace.ofOrder(cursor)?.shard !== shard) {
      throw new BadRequestError('cursor is not a next_cursor of this user_id');
    }
    const page = await orders.listByUser(shard, user_id, limit, cursor);
    const docs = await orders.readManyJson(shard, page.orderIds);
    const json = `{"orders":[${docs.filter((d) => d !== null).join(',')}],"next_cursor":${JSON.stringify(page.nextCursor)}}`;
    return c.body(json, 200, { 'Content-Type': 'application/json' }) as never;
  });

  return app;
}
