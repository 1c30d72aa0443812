// Cross-site requests to admin actions: a browser holding the dashboard's basic-auth credentials sends
// them along with any form another site posts, so state-changing admin requests must prove they are not one.
import { afterAll, describe, expect, it } from 'vitest';
import { BOARD_PATH } from '../../server/admin-surfaces.js';
import { createNodeRegistry } from '../../shared/node-registry.js';
import { nodeStats } from '../support/node-stats.js';
import { createTestSystem, type TestSystem } from '../support/system.js';

const TOKEN = 'admin-csrf-test-token';
const system = createTestSystem({ ADMIN_TOKEN: TOKEN });
const withActions = createTestSystem({ ADMIN_TOKEN: TOKEN, BOARD_ACTIONS: '1' });
afterAll(() => Promise.all([system.close(), withActions.close()]));

const SELF = 'http://localhost'; // app.request's origin
const EVIL = 'https://evil.example';
const basic = `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`;
const bearer = `Bearer ${TOKEN}`;

let nodeCount = 0;
/** A fresh live registry entry, so each test's drain request is its own. */
async function liveNode(): Promise<{ id: string; drainRequested: () => Promise<boolean> }> {
  const registry = createNodeRegistry(system.store, system.config.KEY_NAMESPACE, { ttlMs: 120_000 });
  const stats = nodeStats({ id: `csrf-node-${++nodeCount}` });
  await registry.heartbeat(stats);
  return { id: stats.id, drainRequested: async () => (await registry.heartbeat(stats)).drainRequested };
}

const drain = (id: string, headers: Record<string, string>, body?: string) =>
  system.app.request(`/nodes/${id}/drain`, { method: 'POST', headers, body });

async function expectForbidden(res: Response) {
  expect(res.status).toBe(403);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(await res.json()).toMatchObject({ type: 'about:blank', title: 'Forbidden', status: 403 });
}

describe('POST /nodes/:id/drain', () => {
  it('refuses a cross-site form post carrying basic-auth credentials, and the node is not drained', async () => {
    const node = await liveNode();
    const form = { authorization: basic, origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' };
    await expectForbidden(await drain(node.id, form, 'x=1'));
    expect(await node.drainRequested()).toBe(false);
  });

  it('refuses a cross-site request even when it is JSON', async () => {
    const node = await liveNode();
    const json = { authorization: basic, origin: EVIL, 'content-type': 'application/json' };
    await expectForbidden(await drain(node.id, json, '{}'));
    expect(await node.drainRequested()).toBe(false);
  });

  it('refuses an opaque (null) origin, as sandboxed frames and privacy redirects send it', async () => {
    const node = await liveNode();
    await expectForbidden(await drain(node.id, { authorization: basic, origin: 'null' }));
    expect(await node.drainRequested()).toBe(false);
  });

  it('refuses a simple request with basic auth and no origin: a form from a browser that omits Origin', async () => {
    const node = await liveNode();
    const form = { authorization: basic, 'content-type': 'text/plain' };
    await expectForbidden(await drain(node.id, form, 'x'));
    await expectForbidden(await drain(node.id, { authorization: basic }));
    expect(await node.drainRequested()).toBe(false);
  });

  it('accepts a same-origin JSON request with basic-auth credentials', async () => {
    const node = await liveNode();
    const json = { authorization: basic, origin: SELF, 'content-type': 'application/json' };
    expect((await drain(node.id, json, '{}')).status).toBe(202);
    expect(await node.drainRequested()).toBe(true);
  });

  it('accepts basic-auth credentials with X-Requested-With, which no form can send', async () => {
    const node = await liveNode();
    expect((await drain(node.id, { authorization: basic, 'x-requested-with': 'curl' })).status).toBe(202);
    expect(await node.drainRequested()).toBe(true);
  });

  it('accepts a bearer token without an Origin, as curl sends it', async () => {
    const node = await liveNode();
    expect((await drain(node.id, { authorization: bearer })).status).toBe(202);
    expect(await node.drainRequested()).toBe(true);
  });

  it('still answers 401, not 403, to a cross-site request without credentials', async () => {
    const node = await liveNode();
    expect((await drain(node.id, { origin: EVIL })).status).toBe(401);
  });
});

describe('Bull Board actions (BOARD_ACTIONS=1)', () => {
  const queue = (s: TestSystem) => s.keyspace.shard(5).queueName;
  const action = (path: string, method: string, headers: Record<string, string>, body?: string) =>
    withActions.app.request(`${BOARD_PATH}/api/queues/${queue(withActions)}${path}`, {
      method,
      headers,
      body,
    });
  type BoardQueue = { name: string; isPaused: boolean; counts: Record<string, number> };
  /** The queue as the board lists it, read with the bearer token. */
  const listed = async () => {
    const res = await withActions.app.request(`${BOARD_PATH}/api/queues`, {
      headers: { authorization: bearer },
    });
    const { queues } = (await res.json()) as { queues: BoardQueue[] };
    return queues.find((q) => q.name === queue(withActions))!;
  };
  const jobCount = async () => Object.values((await listed()).counts).reduce((a, b) => a + b, 0);

  it('refuses a cross-site text/plain post that Bull Board would parse as JSON, and adds no job', async () => {
    const before = await jobCount();
    const body = JSON.stringify({ name: 'csrf', data: {} });
    const form = { authorization: basic, origin: EVIL, 'content-type': 'text/plain' };
    await expectForbidden(await action('/add', 'POST', form, body));
    expect(await jobCount()).toBe(before);
  });

  it('refuses a cross-site PUT', async () => {
    await expectForbidden(await action('/pause', 'PUT', { authorization: basic, origin: EVIL }));
    expect((await listed()).isPaused).toBe(false);
  });

  it("lets Bull Board's own UI act: same-origin PUT without a body, POST with JSON", async () => {
    const own = { authorization: basic, origin: SELF };
    expect((await action('/pause', 'PUT', own)).status).toBeLessThan(300);
    expect((await listed()).isPaused).toBe(true);
    expect((await action('/resume', 'PUT', own)).status).toBeLessThan(300);
    const body = JSON.stringify({ name: 'by-hand', data: {} });
    const added = await action('/add', 'POST', { ...own, 'content-type': 'application/json' }, body);
    expect(added.status).toBeLessThan(300);
    expect(await jobCount()).toBeGreaterThan(0);
  });
});
