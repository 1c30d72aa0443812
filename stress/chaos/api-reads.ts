// The checker's reads of the HTTP API: one order, a user's whole listing, /stats.
import type { OrderJson } from './order-json.js';

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body };
}

/** GET /orders/:id: the record, or the status that came instead (404 for an unknown order). */
export async function readOrder(api: string, id: string): Promise<OrderJson | number> {
  const { status, body } = await getJson(`${api}/orders/${encodeURIComponent(id)}`);
  return status === 200 ? (body as OrderJson) : status;
}

/** Every order GET /orders?user_id= lists, following next_cursor to the end. */
export async function listUserOrders(api: string, user: string): Promise<OrderJson[]> {
  const orders: OrderJson[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ user_id: user, limit: '100', ...(cursor ? { cursor } : {}) });
    const { status, body } = await getJson(`${api}/orders?${query}`);
    if (status !== 200) throw new Error(`GET /orders?${query} answered ${status}`);
    const page = body as { orders: OrderJson[]; next_cursor: string | null };
    orders.push(...page.orders);
    cursor = page.next_cursor;
  } while (cursor);
  return orders;
}

/** The order counts of GET /stats. */
export interface StatsCounts {
  placed: number;
  completed: number;
  failed: number;
}

export async function readStats(api: string): Promise<StatsCounts> {
  const { status, body } = await getJson(`${api}/stats`);
  if (status !== 200) throw new Error(`GET /stats answered ${status}`);
  const { placed, completed, failed } = (body as { orders: StatsCounts }).orders;
  return { placed, completed, failed };
}
