// Graceful shutdown and drain: a node stops taking steps, finishes those in flight, leaves the
// registry and exits 0; nothing it was running is abandoned.
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeRegistry } from '../../shared/node-registry.js';
import { expectCleanHistory } from '../support/history.js';
import { killAll, type ServiceProcess, spawnWorker } from '../support/processes.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

let system: TestSystem;
const services: ServiceProcess[] = [];
afterEach(async () => {
  // The nodes first: close() deletes the test's namespace, which a live node would write to again.
  await killAll(services.splice(0));
  await system.close();
});

function startNode(nodeId: string) {
  return spawnWorker(
    nodeId,
    system.config,
    { STEP_MS: '400', WORKER_CONCURRENCY: '10', HEARTBEAT_MS: '200' },
    services,
  );
}

/** Places `count` orders, waits until `node` runs steps, stops it with `stop`, and checks the outcome. */
async function drainUnderLoad(stop: (node: ServiceProcess) => Promise<void>) {
  const registry = createNodeRegistry(system.store, system.config.KEY_NAMESPACE);
  const leaving = startNode('node-leaving');
  const staying = startNode('node-staying');
  await Promise.all([leaving, staying].map((n) => n.waitForLog((l) => l.event === 'node-started')));
  await waitFor(
    async () => ((await registry.list()).length === 2 ? true : undefined),
    10_000,
    'both nodes listed',
  );

  const ids = await Promise.all(
    Array.from(
      { length: 40 },
      async (_, i) => (await system.place({ user_id: `drain-${i}` })).body.order_id as string,
    ),
  );
  await leaving.waitForLog((l) => l.event === 'step-started');
  const stoppedAt = Date.now();
  await stop(leaving);
  const { code } = await leaving.exited;
  expect(code).toBe(0);
  expect(Date.now() - stoppedAt).toBeLessThan(20_000);
  expect(await registry.get('node-leaving')).toBeNull();

  const orders = await Promise.all(ids.map((id) => system.waitForTerminal(id, 40_000)));
  const attemptsOfLeaving = orders
    .flatMap((o) => o.steps.flatMap((s) => s.attempts))
    .filter((a) => a.node_id === 'node-leaving');
  expect(attemptsOfLeaving.length).toBeGreaterThan(0);
  expect(attemptsOfLeaving.every((a) => a.outcome === 'completed')).toBe(true);
  for (const order of orders) {
    expect(order.status).toBe('completed');
    expectCleanHistory(order);
  }
  const stopped = await leaving.waitForLog((l) => l.event === 'node-stopped');
  expect(stopped.processed).toBe(attemptsOfLeaving.length);
  expect((await registry.list()).map((n) => n.id)).toEqual(['node-staying']);
}

describe('when a node gets SIGTERM under load', () => {
  it('finishes its steps in flight, leaves the registry and exits 0', async () => {
    system = createTestSystem();
    await drainUnderLoad(async (node) => node.signal('SIGTERM'));
  }, 90_000);
});

describe('when an operator asks a node to drain', () => {
  it('finishes its steps in flight, leaves the registry and exits 0', async () => {
    system = createTestSystem();
    const registry = createNodeRegistry(system.store, system.config.KEY_NAMESPACE);
    await drainUnderLoad(async (node) => {
      expect(await registry.requestDrain('node-leaving')).toBe(true);
      await node.waitForLog((l) => l.event === 'drain-requested', 5000);
    });
    expect(await registry.requestDrain('node-leaving')).toBe(false);
  }, 90_000);
});
