// GET /docs: the API reference rendered on the server from the OpenAPI document; no external assets.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import { DOCS_STYLE, type OpenApiDocument, renderOperation, renderSchema } from './docs-render.js';
import { ADMIN_SECURITY } from './nodes.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/**
 * Adds to the document what it cannot learn from the zod routes: the admin security schemes, and
 * the routes served by plain Hono sub-apps (health, readiness, Bull Board, the dashboard).
 */
export function documentPlainRoutes(app: OpenAPIHono): void {
  const registry = app.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'adminBearer', { type: 'http', scheme: 'bearer' });
  registry.registerComponent('securitySchemes', 'adminBasic', { type: 'http', scheme: 'basic' });
  const text = (description: string) => ({ description, content: { 'text/plain': { schema: {} } } });
  const page = (description: string) => ({ description, content: { 'text/html': { schema: {} } } });
  const plain = [
    ['/health', 'Liveness: 200 while the process runs', text('alive'), undefined],
    [
      '/ready',
      'Readiness: 200 only while the store answers and the cluster is ok, else 503',
      text('ready'),
      undefined,
    ],
    [
      '/admin/queues',
      'Bull Board over every shard queue (admin; read-only unless BOARD_ACTIONS)',
      page('the board'),
      ADMIN_SECURITY,
    ],
    [
      '/dashboard',
      'Ops dashboard: nodes, shards, throughput and failures (admin)',
      page('the dashboard'),
      ADMIN_SECURITY,
    ],
    ['/docs', 'This reference', page('the reference'), undefined],
  ] as const;
  for (const [path, summary, ok, security] of plain) {
    registry.registerPath({
      method: 'get',
      path,
      tags: ['operations'],
      summary,
      ...(security ? { security } : {}),
      responses: { 200: ok },
    });
  }
}

/** The /docs sub-app; `document` builds the OpenAPI document served at /openapi.json. */
export function createDocsRoutes({ document }: { document: () => object }) {
  const app = new Hono();
  app.get('/docs', (c) => {
    const doc = document() as OpenApiDocument;
    const operations = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method]! })),
    );
    const tags = [...new Set(operations.map((o) => o.op.tags?.[0] ?? 'orders'))];
    const schemas = Object.entries(doc.components?.schemas ?? {});
    const page = html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${doc.info.title} API reference</title>
    <link rel="icon" href="data:," />
    <style>${raw(DOCS_STYLE)}</style>
  </head>
  <body>
    <nav>
      <h1>${doc.info.title} <small>${doc.info.version}</small></h1>
      <p><a href="/openapi.json">openapi.json</a></p>
      ${tags.map(
        (tag) => html`<h3>${tag}</h3>
          <ul>
            ${operations
              .filter((o) => (o.op.tags?.[0] ?? 'orders') === tag)
              .map(
                (o) =>
                  html`<li><a href="#${o.method}-${o.path}"><b class="m ${o.method}">${o.method.toUpperCase()}</b> ${o.path}</a></li>`,
              )}
          </ul>`,
      )}
      <h3>schemas</h3>
      <ul>
        ${schemas.map(([name]) => html`<li><a href="#schema-${name}">${name}</a></li>`)}
      </ul>
    </nav>
    <main>
      <p>${doc.info.description ?? ''}</p>
      <p class="note">Errors are <code>application/problem+json</code> (RFC 9457). Admin routes take
        <code>Authorization: Bearer &lt;ADMIN_TOKEN&gt;</code>, or basic auth with the token as password.</p>
      ${operations.map((o) => renderOperation(o.method, o.path, o.op, doc.components?.schemas))}
      <h2>Schemas</h2>
      ${schemas.map(([name, schema]) => html`<section class="schema" id="schema-${name}"><h3>${name}</h3>${renderSchema(schema)}</section>`)}
    </main>
  </body>
</html>`;
    return c.html(page);
  });
  return app;
}
