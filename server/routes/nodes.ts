// The node registry over HTTP: list live worker nodes, read one, ask one to drain (admin).
import { createRoute } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { NodeRegistry } from '../../shared/node-registry.js';
import { NotFoundError } from '../errors.js';
import { DrainSchema, NodeIdParamSchema, NodeListSchema, NodeSchema } from '../ops-schemas.js';
import { createRouter } from '../router.js';
import { ProblemSchema } from '../schemas.js';

export interface NodeRoutesDeps {
  nodes: NodeRegistry;
  admin: MiddlewareHandler;
}

/** The security requirement of admin routes in the OpenAPI document (schemes registered in docs.ts). */
export const ADMIN_SECURITY: Array<Record<string, string[]>> = [{ adminBearer: [] }, { adminBasic: [] }];

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

const storeUnavailable = problem('the store did not answer within the read deadline; see Retry-After');

const listRoute = createRoute({
  method: 'get',
  path: '/nodes',
  tags: ['operations'],
  summary: 'Live worker nodes with their heartbeat stats',
  responses: {
    200: { description: 'live nodes', content: { 'application/json': { schema: NodeListSchema } } },
    503: storeUnavailable,
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/nodes/{node_id}',
  tags: ['operations'],
  summary: 'One live worker node',
  request: { params: NodeIdParamSchema },
  responses: {
    200: { description: 'the node', content: { 'application/json': { schema: NodeSchema } } },
    400: problem('malformed node id'),
    404: problem('no live node with this id'),
    503: storeUnavailable,
  },
});

/** The drain route; its admin check runs in `createNodeRoutes`, before validation. */
const drainRouteOf = (admin: MiddlewareHandler) =>
  createRoute({
    method: 'post',
    path: '/nodes/{node_id}/drain',
    tags: ['operations'],
    summary: 'Ask a node to finish its steps in flight, leave the registry and exit (admin)',
    security: ADMIN_SECURITY,
    middleware: [admin],
    request: { params: NodeIdParamSchema },
    responses: {
      202: { description: 'the node will drain', content: { 'application/json': { schema: DrainSchema } } },
      401: problem('no or wrong admin token'),
      403: problem(
        'a request another site could have forged: foreign Origin, or basic auth without JSON or X-Requested-With',
      ),
      404: problem('no live node with this id'),
    },
  });

/** `/nodes` routes; reads are public like /stats, the drain needs the admin token. */
export function createNodeRoutes({ nodes, admin }: NodeRoutesDeps) {
  const app = createRouter();

  app.openapi(listRoute, async (c) => c.json({ nodes: await nodes.list() }, 200));

  app.openapi(getRoute, async (c) => {
    const { node_id } = c.req.valid('param');
    const node = await nodes.get(node_id);
    if (!node) throw new NotFoundError(`no live node ${node_id}`);
    return c.json(node, 200);
  });

  app.openapi(drainRouteOf(admin), async (c) => {
    const { node_id } = c.req.valid('param');
    if (!(await nodes.requestDrain(node_id))) throw new NotFoundError(`no live node ${node_id}`);
    const body = { node_id, status: 'drain-requested' as const, requested_at: new Date().toISOString() };
    return c.json(body, 202);
  });

  return app;
}
