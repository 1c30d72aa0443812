// Liveness and readiness: /health answers while the process runs, /ready only while the store does.
import { Hono } from 'hono';
import type { Store } from '../../shared/store.js';
import { withTimeout } from '../../shared/store.js';
import { problemResponse } from '../problem.js';

/** Is the store answering, and (in cluster mode) does it report every slot served? */
export async function storeReadiness(store: Store): Promise<{ ready: boolean; detail: string }> {
  try {
    await withTimeout(store.ping(), 1000, 'store ping');
    if ('nodes' in store) {
      const info = await withTimeout(store.cluster('INFO') as Promise<string>, 1000, 'cluster info');
      const state = /cluster_state:(\w+)/.exec(info)?.[1];
      if (state !== 'ok') return { ready: false, detail: `cluster_state is ${state ?? 'unknown'}` };
    }
    return { ready: true, detail: 'store answers' };
  } catch (error) {
    return { ready: false, detail: `store unreachable: ${(error as Error).message}` };
  }
}

/** `/health` and `/ready`. */
export function createHealthRoutes({ store }: { store: Store }) {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    const { ready, detail } = await storeReadiness(store);
    if (ready) return c.json({ status: 'ready', detail });
    return problemResponse(
      c,
      { type: 'about:blank', title: 'Service Unavailable', status: 503, detail },
      { 'Retry-After': '1' },
    );
  });
  return app;
}
