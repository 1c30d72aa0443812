// A worker node's own HTTP probe (NODE_PORT): liveness, readiness that turns 503 while the node is
// draining or its store watchdog has paused it, and this node's own Prometheus metrics.
import { Hono } from 'hono';
import type { Registry } from 'prom-client';

export interface NodeProbe {
  nodeId: string;
  readonly ready: boolean;
}

/** `/health`, `/ready` and (given a registry) `/metrics` of one worker node. */
export function createNodeHealthApp(node: NodeProbe, registry?: Registry) {
  const app = new Hono();
  if (registry) {
    app.get('/metrics', async (c) =>
      c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }),
    );
  }
  app.get('/health', (c) => c.json({ status: 'ok', node_id: node.nodeId }));
  app.get('/ready', (c) =>
    node.ready
      ? c.json({ status: 'ready', node_id: node.nodeId })
      : c.json(
          { status: 'not ready', node_id: node.nodeId, detail: 'draining, or the store is unreachable' },
          503,
        ),
  );
  return app;
}
