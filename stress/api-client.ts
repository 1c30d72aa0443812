// The few API calls the stress tool makes besides placement: reachability, /nodes, one order.
import type { OrderRecord } from '../shared/domain/order.js';

/** The API did not answer; the message is the one line the CLI prints. */
export class ApiUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** What GET /nodes lists per live worker node (the fields the stress tool uses). */
export interface LiveNode {
  id: string;
  concurrency: number;
  /** The node's STEP_MS and STEP_FAILURE_RATE (absent from an API older than these fields). */
  step_ms?: number;
  step_failure_rate?: number;
  active?: number;
  processed?: number;
}

const describeCause = (error: unknown): string => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ENOTFOUND') return 'host not found';
  if ((error as Error).name === 'TimeoutError') return 'no answer within 5 s';
  return cause?.code ?? cause?.message ?? (error as Error).message;
};

/** Resolves when GET /health answers 200; otherwise throws an ApiUnreachableError saying why. */
export async function checkReachable(url: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
  } catch (error) {
    throw new ApiUnreachableError(
      `cannot reach the API at ${url}: ${describeCause(error)} (is it running? npm start, or pass --url)`,
    );
  }
  await res.arrayBuffer();
  if (res.status !== 200) {
    throw new ApiUnreachableError(`GET ${url}/health answered ${res.status}: is this an orderflow API?`);
  }
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  try {
    return { status: res.status, body: text ? JSON.parse(text) : null };
  } catch {
    return { status: res.status, body: null };
  }
}

/** The live worker nodes from GET /nodes, or null when the API has no such route (404) or fails. */
export async function readLiveNodes(url: string): Promise<LiveNode[] | null> {
  try {
    const { status, body } = await getJson(`${url}/nodes`);
    if (status !== 200) return null;
    const list = Array.isArray(body) ? body : (body as { nodes?: unknown })?.nodes;
    if (!Array.isArray(list)) return null;
    return list.filter((n): n is LiveNode => typeof n?.id === 'string' && typeof n?.concurrency === 'number');
  } catch {
    return null;
  }
}

/** GET /orders/:id: the record, or null with the status when there is none (404) or it failed. */
export async function readOrder(
  url: string,
  orderId: string,
): Promise<{ status: number; order: OrderRecord | null }> {
  const { status, body } = await getJson(`${url}/orders/${encodeURIComponent(orderId)}`);
  return { status, order: status === 200 ? (body as OrderRecord) : null };
}
