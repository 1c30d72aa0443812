// GET /orders/:order_id/events: an order's changes as Server-Sent Events, read from its stream in the
// store (any API replica sees every event), resumable with Last-Event-ID, closed after the end.
import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { isTerminal, type OrderRecord } from '../../shared/domain/order.js';
import { isTerminalEvent, ORDER_EVENT_TYPES } from '../../shared/domain/order-events.js';
import type { OrderStore } from '../../shared/order-store.js';
import { ApiError, BadRequestError, NotFoundError } from '../errors.js';
import { isStreamId, type OrderEventHub, type StreamEvent } from '../events/order-event-hub.js';
import type { OrderLocator } from '../orders/order-locator.js';
import { createRouter } from '../router.js';
import { OrderIdSchema, OrderLookupQuerySchema, problemResponses } from '../schemas.js';

/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;

/** 503: this process has SSE_MAX_STREAMS streams open. */
export class StreamLimitError extends ApiError {
  constructor(max: number) {
    super(503, 'Service Unavailable', `this server has its ${max} event streams open; retry later`, {
      headers: { 'Retry-After': '5' },
    });
  }
}

const eventsRoute = createRoute({
  method: 'get',
  path: '/orders/{order_id}/events',
  summary: "An order's changes as Server-Sent Events, until it ends",
  description: `Each event has an id (resume with the Last-Event-ID header, or ?last_event_id=) and a type: ${ORDER_EVENT_TYPES.join(', ')}. The stream closes after order-completed, order-failed or order-cancelled; an order that has ended already gets its history, then the stream closes.`,
  request: {
    params: z.object({ order_id: OrderIdSchema }),
    query: OrderLookupQuerySchema.extend({
      last_event_id: z.string().optional().openapi({ description: 'as the Last-Event-ID header' }),
    }),
  },
  responses: {
    200: { description: 'the event stream', content: { 'text/event-stream': { schema: z.string() } } },
    ...problemResponses(400, 404, 503),
  },
});

export interface EventRoutesDeps {
  locator: OrderLocator;
  orders: Pick<OrderStore, 'read'>;
  hub: OrderEventHub;
  maxStreams: number;
}

/** The terminal event of an order that ended before it had a stream (a record older than streams). */
const endOf = (order: OrderRecord): StreamEvent => ({
  id: '',
  event: {
    type: `order-${order.status as 'completed' | 'failed' | 'cancelled'}`,
    order_id: order.order_id,
    at: order.completed_at ?? '',
    status: order.status,
  },
});

/** The events sub-app. */
export function createEventRoutes({ locator, orders, hub, maxStreams }: EventRoutesDeps) {
  const app = createRouter();
  app.openapi(eventsRoute, async (c) => {
    const { user_id, last_event_id } = c.req.valid('query');
    const orderId = await locator.locateOrder(c.req.valid('param').order_id, user_id);
    const cursor = c.req.header('last-event-id') ?? last_event_id ?? '0-0';
    if (!isStreamId(cursor))
      throw new BadRequestError(`Last-Event-ID ${JSON.stringify(cursor)} is not an event id`);
    const current = await orders.read(orderId);
    if (!current) throw new NotFoundError(`no order ${orderId}`);
    const ended = isTerminal(current.order.status);
    const subscription = ended ? null : hub.open(orderId, cursor);
    if (!ended && !subscription) throw new StreamLimitError(maxStreams);
    c.header('X-Accel-Buffering', 'no'); // a proxy must pass each event on as it comes
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => subscription?.close());
      const keepAlive = setInterval(() => void stream.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
      const send = ({ id, event }: StreamEvent) =>
        stream.writeSSE({ id: id || undefined, event: event.type, data: JSON.stringify(event) });
      try {
        if (!subscription) {
          const history = await hub.history(orderId, cursor);
          for (const event of history) await send(event);
          const sawEnd = history.some((e) => isTerminalEvent(e.event.type));
          if (!sawEnd && cursor === '0-0') await send(endOf(current.order));
          return;
        }
        for (;;) {
          const batch = await subscription.next();
          if (!batch) return;
          for (const event of batch) {
            await send(event);
            if (isTerminalEvent(event.event.type)) return;
          }
        }
      } finally {
        clearInterval(keepAlive);
        subscription?.close();
      }
    }) as never;
  });
  return app;
}
