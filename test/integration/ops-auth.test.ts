// Admin auth on every admin surface: Bull Board, the dashboard (page, data, assets), node drains.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeRegistry } from '../../shared/node-registry.js';
import { nodeStats } from '../support/node-stats.js';
import { createTestSystem } from '../support/system.js';

const TOKEN = 'ops-auth-test-token';
const system = createTestSystem({ ADMIN_TOKEN: TOKEN });
const noToken = createTestSystem();
const withActions = createTestSystem({ ADMIN_TOKEN: TOKEN, BOARD_ACTIONS: '1' });
afterAll(() => Promise.all([system.close(), noToken.close(), withActions.close()]));

/** A registry entry that lives for the whole file, so a drain request has a live node to reach. */
async function registerFakeNode(id: string): Promise<void> {
  const registry = createNodeRegistry(system.store, system.config.KEY_NAMESPACE, { ttlMs: 120_000 });
  await registry.heartbeat(nodeStats({ id }));
}
beforeAll(() => registerFakeNode('fake-node'));

const surfaces = [
  { method: 'GET', path: '/admin/queues', ok: 200 },
  { method: 'GET', path: '/admin/queues/queue/steps-s03', ok: 200 },
  { method: 'GET', path: '/admin/queues/api/queues', ok: 200 },
  { method: 'GET', path: '/admin/queues/static/favicon-32x32.png', ok: 200 },
  { method: 'GET', path: '/dashboard', ok: 200 },
  { method: 'GET', path: '/dashboard/failures', ok: 200 },
  { method: 'GET', path: '/dashboard/assets/uPlot.iife.min.js', ok: 200 },
  { method: 'GET', path: '/dashboard/assets/dashboard.js', ok: 200 },
  { method: 'GET', path: '/dashboard/orders/0-01JD3Z9T4S8X5Q2W7E6R1Y0U9K', ok: 404 },
  { method: 'POST', path: '/nodes/fake-node/drain', ok: 202 },
];

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function call(app: typeof system.app, method: string, path: string, authorization?: string) {
  const headers: Record<string, string> = authorization
    ? { authorization, 'x-requested-with': 'ops-auth-test' }
    : {};
  return app.request(path, { method, headers });
}

async function expectRefused(res: Response, challenge = true) {
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as { detail: string };
  expect(body).toMatchObject({ type: 'about:blank', title: 'Unauthorized', status: 401 });
  expect(body.detail).toEqual(expect.any(String));
  expect(res.headers.get('www-authenticate')).toBe(
    challenge ? 'Basic realm="orderflow admin", charset="UTF-8"' : null,
  );
  return body;
}

describe.each(surfaces)('$method $path', ({ method, path, ok }) => {
  it('refuses a request without credentials with 401 problem+json and a Basic challenge', async () => {
    await expectRefused(await call(system.app, method, path));
  });

  it('refuses a wrong Bearer token, a wrong basic-auth password and an unknown scheme', async () => {
    await expectRefused(await call(system.app, method, path, 'Bearer not-the-token'));
    await expectRefused(await call(system.app, method, path, `Bearer ${TOKEN}x`));
    await expectRefused(await call(system.app, method, path, basic('admin', 'wrong-password')));
    await expectRefused(await call(system.app, method, path, basic(TOKEN, '')));
    await expectRefused(await call(system.app, method, path, `Token ${TOKEN}`));
  });

  it('lets the right Bearer token through', async () => {
    expect((await call(system.app, method, path, `Bearer ${TOKEN}`)).status).toBe(ok);
  });

  it('lets the right basic-auth password through, whatever the user name', async () => {
    expect((await call(system.app, method, path, basic('admin', TOKEN))).status).toBe(ok);
    expect((await call(system.app, method, path, basic('', TOKEN))).status).toBe(ok);
  });

  it('refuses everyone, without a challenge, when the server has no ADMIN_TOKEN', async () => {
    const body = await expectRefused(await call(noToken.app, method, path, `Bearer ${TOKEN}`), false);
    expect(body.detail).toMatch(/ADMIN_TOKEN/);
  });
});

describe('the public operations read-outs', () => {
  it.each(['/health', '/ready', '/nodes', '/stats', '/stats/history', '/shards', '/metrics', '/docs'])(
    '%s answers 200 without credentials',
    async (path) => {
      expect((await system.app.request(path)).status).toBe(200);
    },
  );
});

describe('Bull Board', () => {
  it('is read-only unless BOARD_ACTIONS is on', async () => {
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    type Queues = { queues: Array<{ readOnlyMode: boolean }> };
    const queuesOf = async (app: typeof system.app) =>
      ((await (await app.request('/admin/queues/api/queues', auth)).json()) as Queues).queues;
    const readOnly = await queuesOf(system.app);
    expect(readOnly).toHaveLength(12);
    expect(readOnly.every((q) => q.readOnlyMode)).toBe(true);
    expect((await queuesOf(withActions.app)).every((q) => !q.readOnlyMode)).toBe(true);
  });

  it('refuses a job action in read-only mode', async () => {
    const res = await system.app.request('/admin/queues/api/queues/steps-s00/retry/failed', {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(405);
  });

  it('serves a page that loads nothing from another origin', async () => {
    const res = await system.app.request('/admin/queues', { headers: { authorization: `Bearer ${TOKEN}` } });
    const html = await res.text();
    expect(html).toContain('<base href="/admin/queues/"');
    expect(html).not.toMatch(/(href|src)="https?:\/\//);
  });
});
