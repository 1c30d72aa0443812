// A worker node's own HTTP probe (NODE_PORT): liveness, and readiness that turns 503 while the node
// is draining or its store watchdog has paused it, for container healthchecks and load balancers.
import { Hono } from 'hono';

export interface NodeProbe {
  nodeId: string;
  readonly ready: boolean;
}

/** `/health` and `/ready` of one worker node. */
export function createNodeHealthApp(node: NodeProbe) {
  const app = new Hono();
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
