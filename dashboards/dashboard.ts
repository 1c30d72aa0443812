// The ops dashboard as a Hono sub-app: the page, its local assets, recent failures, order pages.

import { Hono } from 'hono';
import type { FailedOrderNote } from '../shared/activity.js';
import type { OrderRecord } from '../shared/domain/order.js';
import { createAssets } from './assets.js';
import { type DashboardEndpoints, DashboardPage } from './dashboard-page.js';
import { type DashboardLinks, renderPage } from './layout.js';
import { MissingOrderPage, OrderPage } from './order-page.js';

export interface DashboardOptions {
  /** Where the parent app mounts the dashboard, e.g. `/dashboard`. */
  basePath: string;
  /** The other surfaces the pages link to. */
  links: Omit<DashboardLinks, 'dashboard'>;
  /** The public JSON endpoints the page polls; the failures list is the dashboard's own. */
  endpoints: Omit<DashboardEndpoints, 'failures'>;
  recentFailures: (limit: number) => Promise<FailedOrderNote[]>;
  /** The record of an order id, or null when it is malformed or unknown. */
  readOrder: (orderId: string) => Promise<OrderRecord | null>;
  /** The JSON record's URL, linked from the order page. */
  orderJsonHref?: (orderId: string) => string;
  /** Cancels an order for the page's button: the body as posted; answers the status and JSON to send. */
  cancelOrder: (orderId: string, body: unknown) => Promise<{ status: 200 | 202; body: unknown }>;
  refreshMs?: number;
}

// Everything the pages load is served here: a browser on the dashboard makes no external request.
const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

/** The dashboard sub-app; put it behind admin auth. */
export function createDashboard(options: DashboardOptions): Hono {
  const { basePath, recentFailures, readOrder, cancelOrder, refreshMs = 3000 } = options;
  const orderJsonHref = options.orderJsonHref ?? ((id: string) => `/orders/${encodeURIComponent(id)}`);
  const links: DashboardLinks = { ...options.links, dashboard: basePath };
  const assets = `${basePath}/assets`;
  const endpoints: DashboardEndpoints = { ...options.endpoints, failures: `${basePath}/failures` };
  const app = new Hono();

  app.use('*', async function securityHeaders(c, next) {
    await next();
    if (c.res.headers.get('content-type')?.startsWith('text/html')) {
      c.header('Content-Security-Policy', CSP);
      c.header('Cache-Control', 'no-store');
    }
  });

  app.get('/', (c) => c.html(renderPage(DashboardPage({ assets, links, endpoints, refreshMs }))));

  app.route('/assets', createAssets());

  app.get('/failures', async (c) => {
    const limit = Math.min(Math.max(Number(c.req.query('limit')) || 20, 1), 50);
    return c.json({ failures: await recentFailures(limit) });
  });

  app.get('/orders', (c) => {
    const id = c.req.query('id')?.trim();
    return id ? c.redirect(`${basePath}/orders/${encodeURIComponent(id)}`, 303) : c.redirect(basePath, 303);
  });

  app.get('/orders/:order_id', async (c) => {
    const id = c.req.param('order_id');
    const order = await readOrder(id);
    if (!order) return c.html(renderPage(MissingOrderPage({ assets, links, id })), 404);
    const pageHref = `${basePath}/orders/${encodeURIComponent(id)}`;
    const hrefs = { jsonHref: orderJsonHref(id), eventsHref: `${orderJsonHref(id)}/events`, pageHref };
    return c.html(
      renderPage(OrderPage({ assets, links, order, ...hrefs, cancelHref: `${pageHref}/cancel` })),
    );
  });

  // Admin auth's forgery check makes this POST need a JSON body (or X-Requested-With) from this origin.
  app.post('/orders/:order_id/cancel', async (c) => {
    const body: unknown = await c.req.json().catch(() => ({}));
    const answer = await cancelOrder(c.req.param('order_id'), body);
    return c.json(answer.body as object, answer.status);
  });

  return app;
}
