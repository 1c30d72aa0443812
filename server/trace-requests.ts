// A server span per request (HTTP semantic conventions), active while the request is handled, so the
// placement's trace context goes into its jobs and its log lines carry its trace_id.
import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';

// A client that sends `traceparent` gets its placement in its own trace.
const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/** Traces every request; installed only when tracing is on (server/app.ts). */
export function traceRequests(tracer: Tracer): MiddlewareHandler {
  return async function traceRequest(c, next) {
    const method = c.req.method;
    const parent = propagation.extract(ROOT_CONTEXT, c.req.raw.headers, headerGetter);
    const attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_URL_PATH]: c.req.path,
      [ATTR_URL_SCHEME]: c.req.url.startsWith('https:') ? 'https' : 'http',
      [ATTR_USER_AGENT_ORIGINAL]: c.req.header('user-agent'),
      'orderflow.request_id': c.get('requestId'),
    };
    const options = { kind: SpanKind.SERVER, attributes };
    await tracer.startActiveSpan(method, options, parent, async (span) => {
      try {
        await next();
      } finally {
        // The route that answered, once routing is done: `/orders/:order_id`, not the id itself.
        const route = routePath(c);
        if (!route.includes('*')) {
          span.setAttribute(ATTR_HTTP_ROUTE, route);
          span.updateName(`${method} ${route}`);
        }
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, c.res.status);
        const placed = c.get('placement');
        if (placed) {
          span.setAttributes({
            'orderflow.order_id': placed.order_id,
            'orderflow.shard': placed.shard,
            'orderflow.replayed': placed.replayed,
          });
        }
        // A server span is an error for a 5xx only: a 4xx is the client's (HTTP semantic conventions).
        if (c.res.status >= 500) {
          if (c.error) span.recordException(c.error);
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      }
    });
  };
}
