// Facts a request's handler learns that the middleware around it reports: typed context variables,
// set once where they are known, so that nothing re-reads them out of the response's headers.
import type { Placement } from './orders/place-order.js';

declare module 'hono' {
  interface ContextVariableMap {
    /**
     * The placement POST /orders acknowledged with its 202, set then and only then (a replay has
     * `replayed`). Read by the request log (its order_id) and by the placement metrics.
     */
    placement?: Placement;
  }
}
