// A paused node (SIGSTOP past its lock, then SIGCONT) is a zombie: its writes to the orders another
// node took over are refused, it logs that it lost the lock, and it goes on working on other orders.
import { afterAll, describe, expect, it } from 'vitest';
import { expectCleanHistory } from '../support/history.js';
import { killAll, type ServiceProcess, spawnWorker } from '../support/processes.js';
import { createTestSystem, waitFor } from '../support/system.js';

const system = createTestSystem();
const services: ServiceProcess[] = [];
afterAll(async () => {
  // The nodes first: close() deletes the test's namespace, which a live node would write to again.
  await killAll(services);
  await system.close();
});

function startNode(nodeId: string) {
  const env = {
    // Long enough that the node is still inside the steps when the test stops it, on a loaded machine.
    STEP_MS: '4000',
    // The production defaults (shared/config.ts): renewal every LOCK_MS/2 leaves 3 s of slack. With
    // 2 s / 1 s, a renewal 1 s late while another fork ran tsc or npm ci stalled a live node's step
    // (the heir's, say), and the exact attempt lists below broke.
    LOCK_MS: '6000',
    STALLED_INTERVAL_MS: '3000',
    HEARTBEAT_MS: '300',
    // The lock path alone: the backstop for a death the registry does not see (a partition, the
    // registry unreachable) must keep working. Takeover by the registry: takeover.test.ts.
    TAKEOVER: 'lock',
  };
  return spawnWorker(nodeId, system.config, env, services);
}

const read = async (id: string) => (await system.orders.read(id))!.order;

describe('when a node is paused longer than its lock and then resumed', () => {
  it('writes nothing to the orders another node took over, logs the lost lock, and keeps working', async () => {
    const zombie = startNode('node-zombie');
    await zombie.waitForLog((l) => l.event === 'node-started');
    const ids = await Promise.all(
      [1, 2, 3].map(async (i) => (await system.place({ user_id: `paused-${i}` })).body.order_id as string),
    );
    await waitFor(
      async () => {
        const orders = await Promise.all(ids.map(read));
        return orders.every((o) => o.steps[0]!.status === 'running') ? true : undefined;
      },
      15_000,
      'scheduling running on the node to pause',
    );

    zombie.signal('SIGSTOP');
    const heir = startNode('node-heir');
    await waitFor(
      async () => {
        const orders = await Promise.all(ids.map(read));
        return orders.every((o) => o.steps[0]!.attempts.some((a) => a.node_id === 'node-heir'))
          ? true
          : undefined;
      },
      // start-up, then the paused node's locks expire (up to LOCK_MS) and two stalled checks see it
      40_000,
      'the other node to take the steps over',
    );
    zombie.signal('SIGCONT');

    const lost = await zombie.waitForLog((l) => l.event === 'lock-lost', 15_000);
    expect(ids).toContain(lost.order_id);
    const finished = await Promise.all(ids.map((id) => system.waitForTerminal(id, 40_000)));
    for (const order of finished) {
      expect(order.status).toBe('completed');
      expect(order.steps[0]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([
        ['node-zombie', 'abandoned'],
        ['node-heir', 'completed'],
      ]);
      for (const step of order.steps.slice(1))
        expect(step.attempts.map((a) => a.node_id)).toEqual(['node-heir']);
      expectCleanHistory(order);
    }

    // The zombie is alive and well: with the heir gone, it runs a new order from start to end.
    heir.signal('SIGTERM');
    expect((await heir.exited).code).toBe(0);
    const next = (await system.place({ user_id: 'after-the-pause' })).body.order_id;
    const order = await system.waitForTerminal(next, 40_000);
    expect(order.status).toBe('completed');
    expect(order.steps.every((s) => s.node_id === 'node-zombie')).toBe(true);
  }, 120_000);
});
