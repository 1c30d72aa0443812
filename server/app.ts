// The API as a pure factory: every dependency comes in, nothing is opened or read at import.
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Tracer } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { requestId } from 'hono/request-id';
import type { Config } from '../shared/config.js';
import type { Keyspace } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { OrderStore } from '../shared/order-store.js';
import type { Store } from '../shared/store.js';
import { mountAdminSurfaces } from './admin-surfaces.js';
import { adminAuth } from './auth.js';
import { limitBody } from './body-limit.js';
import type { OrderEventHub } from './events/order-event-hub.js';
import { orderCounter } from './metrics.js';
import type { Operations } from './operations.js';
import { createCancellation } from './orders/cancel-order.js';
import { createCancelStore } from './orders/cancel-store.js';
import { createOrderLocator } from './orders/order-locator.js';
import type { PlacementService } from './orders/place-order.js';
import { createErrorHandler, notFound, problemResponse } from './problem.js';
import { readDeadline } from './read-deadline.js';
import { createDocsRoutes, documentPlainRoutes } from './routes/docs.js';
import { createHealthRoutes } from './routes/health.js';
import { createNodeRoutes } from './routes/nodes.js';
import { createOpsRoutes } from './routes/ops.js';
import { createCancelRoutes } from './routes/order-cancel.js';
import { createEventRoutes } from './routes/order-events.js';
import { createOrderRoutes } from './routes/orders.js';
import { traceRequests } from './trace-requests.js';

export interface AppDeps {
  config: Pick<
    Config,
    'MAX_BODY_BYTES' | 'ADMIN_TOKEN' | 'BOARD_ACTIONS' | 'ORDER_TTL_S' | 'SSE_MAX_STREAMS'
  >;
  keyspace: Keyspace;
  store: Store;
  orders: OrderStore;
  placement: PlacementService;
  logger: Logger;
  /** Node registry, shard queues, metrics and activity counts of the operations surfaces. */
  ops: Operations;
  /** With tracing on: a server span per request. Absent: no request looks at tracing at all. */
  tracer?: Tracer;
  /** The readers of the SSE streams, which the process's runtime owns and closes first. */
  events: OrderEventHub;
}

/**
 * The routes that read the store, public and admin: each answers 503 once its read is overdue.
 * `/x/*` matches `/x` too. /ready is not here: it has deadlines of its own and must answer while
 * reads are refused.
 */
const STORE_READS = [
  '/orders/*',
  '/nodes/*',
  '/stats/*',
  '/shards',
  '/metrics',
  '/dashboard/failures',
  '/dashboard/orders/*',
  '/admin/queues/api/*',
];

/**
 * One log line per request; successful reads only at debug, so polling does not flood the logs. A
 * placement's line names its order (the handler's `placement`, server/context.ts).
 */
function requestLog(logger: Logger): MiddlewareHandler {
  return async function requestLogger(c, next) {
    const started = performance.now();
    await next();
    const quiet = c.req.method === 'GET' && c.res.status < 400;
    logger[quiet ? 'debug' : 'info']({
      event: 'request',
      request_id: c.get('requestId'),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      order_id: c.get('placement')?.order_id,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  };
}

const tooLarge = (bytes: number) => ({
  type: 'about:blank',
  title: 'Content Too Large',
  status: 413,
  detail: `the body is over ${bytes} bytes`,
});

/** The orderflow HTTP API. */
export function createApp({
  config,
  keyspace,
  store,
  orders,
  placement,
  logger,
  ops,
  tracer,
  events,
}: AppDeps) {
  const app = new OpenAPIHono();
  app.use(requestId());
  // Outside the request log, so that its line is written under the request's span.
  if (tracer) app.use(traceRequests(tracer));
  app.use(requestLog(logger));
  const deadline = readDeadline(); // one instance for every route: one count of overdue reads
  for (const path of STORE_READS) app.use(path, deadline);
  app.use(
    '/orders',
    limitBody(config.MAX_BODY_BYTES, (c) => problemResponse(c, tooLarge(config.MAX_BODY_BYTES))),
  );
  app.use(
    '/orders/:order_id/cancel',
    limitBody(4096, (c) => problemResponse(c, tooLarge(4096))),
  );
  const admin = adminAuth({ token: config.ADMIN_TOKEN });
  const locator = createOrderLocator({ keyspace, orders });
  const cancellation = createCancellation({
    orders,
    cancels: createCancelStore(store, keyspace, config.ORDER_TTL_S),
    queues: ops.queues,
    logger,
    onCancelledAtOnce: orderCounter(ops, logger, ops.metrics.ordersCancelledAtOnce, 'orders_cancelled'),
  });
  app.route('/', createHealthRoutes({ store }));
  app.route('/', createOrderRoutes({ keyspace, orders, placement }));
  app.route('/', createCancelRoutes({ locator, cancellation }));
  app.route('/', createEventRoutes({ locator, orders, hub: events, maxStreams: config.SSE_MAX_STREAMS }));
  app.route('/', createNodeRoutes({ nodes: ops.nodes, admin }));
  app.route('/', createOpsRoutes({ ops, keyspace, store, logger }));
  mountAdminSurfaces(app, { admin, ops, orders, boardActions: config.BOARD_ACTIONS, cancellation });
  documentPlainRoutes(app);
  const openapi = {
    openapi: '3.1.0',
    info: {
      title: 'orderflow',
      version: '0.1.0',
      description: 'Order placement and lookup, and the operations surfaces: nodes, stats, metrics.',
    },
  };
  app.doc31('/openapi.json', openapi);
  app.route('/', createDocsRoutes({ document: () => app.getOpenAPI31Document(openapi) }));
  app.onError(createErrorHandler(logger));
  app.notFound(notFound);
  return app;
}
