// Mounts the browser admin surfaces, Bull Board and the ops dashboard, behind admin auth.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { createBoard } from '../dashboards/board.js';
import { createDashboard } from '../dashboards/dashboard.js';
import type { OrderRecord } from '../shared/domain/order.js';
import type { OrderStore } from '../shared/order-store.js';
import { BadRequestError } from './errors.js';
import type { Operations } from './operations.js';
import type { Cancellation } from './orders/cancel-order.js';
import { validationProblem } from './problem.js';
import { CancelBodySchema } from './routes/order-cancel.js';

export const BOARD_PATH = '/admin/queues';
export const DASHBOARD_PATH = '/dashboard';

export interface AdminSurfacesDeps {
  admin: MiddlewareHandler;
  ops: Operations;
  orders: OrderStore;
  /** BOARD_ACTIONS: lets the board retry, remove and promote jobs. */
  boardActions: boolean;
  /** The order page's cancel button cancels through the public route's service. */
  cancellation: Cancellation;
}

/** Adds `/admin/queues` and `/dashboard` (and everything under them) to `app`, auth first. */
export function mountAdminSurfaces(
  app: OpenAPIHono,
  { admin, ops, orders, boardActions, cancellation }: AdminSurfacesDeps,
): void {
  for (const base of [BOARD_PATH, DASHBOARD_PATH]) {
    app.use(`${base}/*`, admin); // matches `base` itself too
    // The board's <base href> ends in a slash; without this, `/admin/queues/` would be a 404.
    app.get(`${base}/`, (c) => c.redirect(base, 301));
  }
  const dashboardLink = { text: 'Ops dashboard', url: DASHBOARD_PATH };
  app.route(
    BOARD_PATH,
    createBoard({
      queues: ops.queues,
      basePath: BOARD_PATH,
      readOnly: !boardActions,
      links: [dashboardLink],
    }),
  );
  app.route(
    DASHBOARD_PATH,
    createDashboard({
      basePath: DASHBOARD_PATH,
      links: { board: BOARD_PATH, docs: '/docs', metrics: '/metrics' },
      endpoints: {
        stats: '/stats',
        history: '/stats/history?minutes=10',
        nodes: '/nodes',
        shards: '/shards',
      },
      recentFailures: (limit) => ops.activity.recentFailures(limit),
      async readOrder(orderId) {
        const json = await orders.readJson(orderId);
        return json ? (JSON.parse(json) as OrderRecord) : null;
      },
      async cancelOrder(orderId, body) {
        const parsed = CancelBodySchema.pick({ reason: true }).safeParse(body);
        if (!parsed.success) {
          const problem = validationProblem(parsed.error, 'json');
          throw new BadRequestError(problem.detail, { errors: problem.errors });
        }
        const answer = await cancellation.cancel(orderId, {
          ...parsed.data,
          requested_by: 'admin (dashboard)',
        });
        return { status: answer.httpStatus, body: answer.body };
      },
    }),
  );
}
