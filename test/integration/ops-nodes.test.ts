// The node registry over HTTP: a live in-process node is listed, and a drain request stops it.
// Two nodes live for the whole file and the drain test drains a node of its own, so any test runs
// alone (-t) and in any order. Nodes are not started and closed around every test: closing a node
// within a second of its start gave unhandled 'Connection is closed' rejections from BullMQ's
// connection start in about one full run in four.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerRuntime } from '../../workers/runtime.js';
import { startMeteredNode } from '../support/metered-node.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

const TOKEN = 'ops-nodes-test-token';
const admin = { authorization: `Bearer ${TOKEN}` };
const system: TestSystem = createTestSystem({ ADMIN_TOKEN: TOKEN, HEARTBEAT_MS: '500' });
let stayer: WorkerRuntime['node'];

const listedIds = async () => (await system.get('/nodes')).body.nodes.map((n: { id: string }) => n.id);

beforeAll(async () => {
  stayer = startMeteredNode(system, 'stayer').node;
  startMeteredNode(system, 'lister');
  await waitFor(
    async () => ((await listedIds()).length === 2 ? true : undefined),
    10_000,
    'both nodes to heartbeat',
  );
});
afterAll(() => system.close());

describe('GET /nodes', () => {
  it('lists every live node with its stats', async () => {
    const { status, body } = await system.get('/nodes');
    expect(status).toBe(200);
    expect(body.nodes.map((n: { id: string }) => n.id)).toEqual(['lister', 'stayer']);
    for (const node of body.nodes) {
      expect(node).toMatchObject({
        host: expect.any(String),
        pid: process.pid,
        concurrency: system.config.WORKER_CONCURRENCY,
        active: expect.any(Number),
        processed: expect.any(Number),
        failed: expect.any(Number),
        stalled_recovered: expect.any(Number),
        state: 'running',
        store_ok: true,
      });
      expect(Date.parse(node.started_at)).toBeLessThanOrEqual(Date.parse(node.last_seen));
    }
  });

  it('counts the steps a node processed', async () => {
    const placed = await system.place({ user_id: 'nodes-counting' });
    expect((await system.waitForTerminal(placed.body.order_id)).status).toBe('completed');
    const processed = async () => {
      const { body } = await system.get('/nodes');
      return body.nodes.reduce((sum: number, n: { processed: number }) => sum + n.processed, 0) as number;
    };
    await waitFor(
      async () => ((await processed()) >= 4 ? true : undefined),
      10_000,
      'the four steps to show in the nodes stats',
    );
    // The nodes are this test's own: nothing else ran on them.
    expect(await processed()).toBe(4);
  });
});

describe('GET /nodes/:node_id', () => {
  it('answers one node', async () => {
    const { status, body } = await system.get('/nodes/stayer');
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 'stayer', state: 'running' });
  });

  it('answers 404 problem+json for an unknown node and 400 for a malformed id', async () => {
    const missing = await system.app.request('/nodes/nobody-here');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect((await system.app.request('/nodes/bad%20id!')).status).toBe(400);
  });
});

describe('POST /nodes/:node_id/drain', () => {
  it('answers 404 for a node that is not alive', async () => {
    const res = await system.app.request('/nodes/nobody-here/drain', { method: 'POST', headers: admin });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/no live node nobody-here/);
  });

  it('answers 202, and the node finishes, closes and leaves the registry while the others stay', async () => {
    const leaver = startMeteredNode(system, 'leaver').node;
    await waitFor(
      async () => ((await system.get('/nodes/leaver')).status === 200 ? true : undefined),
      10_000,
      'the node to drain to heartbeat',
    );
    const res = await system.app.request('/nodes/leaver/drain', { method: 'POST', headers: admin });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ node_id: 'leaver', status: 'drain-requested' });

    await waitFor(
      async () => ((await system.get('/nodes/leaver')).status === 404 ? true : undefined),
      15_000,
      'the drained node to leave the registry',
    );
    expect(leaver.ready).toBe(false);
    expect(leaver.consuming).toBe(false);
    expect(await listedIds()).toEqual(['lister', 'stayer']);
    expect(stayer.ready).toBe(true);
  });
});
