// SIGKILLed worker nodes: another node resumes their steps and rollbacks, histories stay clean.
import { afterEach, describe, expect, it } from 'vitest';
import { type OrderRecord, STEPS } from '../../shared/domain/order.js';
import { createNodeRegistry, registryTtlMs } from '../../shared/node-registry.js';
import { TEST_FAILURES_VAR } from '../../workers/steps/test-failures.js';
import { expectCleanHistory } from '../support/history.js';
import { killAll, type ServiceProcess, spawnWorker } from '../support/processes.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

// Steps long enough that the test can catch every order inside its step (and the rollback inside an
// undo) with a second to spare on either side, on a loaded machine.
const STEP_MS = 2000;
// The production defaults (shared/config.ts): renewal every LOCK_MS/2 leaves 3 s of slack before a
// live node's lock expires. With 2 s / 1 s, a renewal 1 s late while another fork ran tsc or npm ci
// stalled a step of a live node, and the exact attempt lists below broke.
const LOCK_MS = 6000;
const STALLED_INTERVAL_MS = 3000;
const HEARTBEAT_MS = 300;

let system: TestSystem;
const services: ServiceProcess[] = [];
afterEach(async () => {
  // The nodes first: close() deletes the test's namespace, which a live node would write to again.
  await killAll(services.splice(0));
  await system.close();
});

function startNode(nodeId: string, env: Record<string, string> = {}) {
  return spawnWorker(
    nodeId,
    system.config,
    {
      STEP_MS: String(STEP_MS),
      COMPENSATION_MS: String(STEP_MS),
      LOCK_MS: String(LOCK_MS),
      STALLED_INTERVAL_MS: String(STALLED_INTERVAL_MS),
      HEARTBEAT_MS: String(HEARTBEAT_MS),
      // The rollback order fails at post-processing: a plan for the real worker main, tests only.
      NODE_ENV: 'test',
      [TEST_FAILURES_VAR]: JSON.stringify({ 'crash-rollback': 'post-processing' }),
      ...env,
    },
    services,
  );
}

const started = (node: ServiceProcess) => node.waitForLog((l) => l.event === 'node-started');
const read = async (id: string) => (await system.orders.read(id))!.order;
const sleepUntil = (t: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, t - Date.now())));

describe('when a node is SIGKILLed in the middle of each step and of a rollback', () => {
  it('resumes every step and the rollback on another node, keeping the abandoned attempts', async () => {
    system = createTestSystem();
    const registry = createNodeRegistry(system.store, system.config.KEY_NAMESPACE);
    const nodeA = startNode('node-a');
    await started(nodeA);

    // Placed so that at one instant order k is inside step k and the rollback order is undoing a step.
    const t0 = Date.now();
    const rollback = (await system.place({ user_id: 'crash-rollback' })).body.order_id;
    const killAt = t0 + 4 * STEP_MS + 1.5 * STEP_MS;
    const ids: string[] = [];
    for (const k of [3, 2, 1, 0]) {
      await sleepUntil(killAt - k * STEP_MS - STEP_MS / 2);
      ids[k] = (await system.place({ user_id: `crash-${k}` })).body.order_id;
    }
    await waitFor(
      async () => {
        const orders = await Promise.all(ids.map(read));
        const inStep = orders.every(
          (o, k) => o.steps[k]!.status === 'running' && o.steps[k]!.node_id === 'node-a',
        );
        const r = await read(rollback);
        const undoing = r.status === 'rolling_back' && r.rollback.some((e) => e.completed_at === null);
        return inStep && undoing ? true : undefined;
      },
      15_000,
      'every order inside its step on node-a',
    );
    expect(await registry.get('node-a'), 'node-a listed while it runs').not.toBeNull();
    const killedAt = Date.now();
    nodeA.signal('SIGKILL');
    await nodeA.exited;

    const nodeB = startNode('node-b');
    // A SIGKILLed node cannot deregister: its registry entry has to expire by itself after 5 missed
    // heartbeats, and /nodes must stop listing it then rather than show a dead node as live.
    await waitFor(
      async () => ((await registry.get('node-a')) === null ? true : undefined),
      registryTtlMs(HEARTBEAT_MS) + 5000,
      'the registry entry of the killed node to expire',
    );
    const listed = (await system.get('/nodes')).body as { nodes: Array<{ id: string }> };
    expect(listed.nodes.map((n) => n.id)).not.toContain('node-a');
    const finished = await Promise.all([...ids, rollback].map((id) => system.waitForTerminal(id, 40_000)));

    for (const [k, order] of finished.slice(0, 4).entries()) {
      expect(order.status).toBe('completed');
      expect(order.steps[k]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([
        ['node-a', 'abandoned'],
        ['node-b', 'completed'],
      ]);
      for (const step of order.steps.slice(0, k))
        expect(step.attempts.map((a) => a.node_id)).toEqual(['node-a']);
      for (const step of order.steps.slice(k + 1))
        expect(step.attempts.map((a) => a.node_id)).toEqual(['node-b']);
      expectCleanHistory(order);
    }
    const rolledBack = finished[4]! as OrderRecord;
    expect(rolledBack.status).toBe('failed');
    expect(rolledBack.failure?.step).toBe('post-processing');
    expect(rolledBack.rollback.map((r) => r.step)).toEqual(['processing', 'pre-processing', 'scheduling']);
    // node-a's undos are the ones it finished before it died; node-b resumed the open one and did the rest.
    const byA = rolledBack.rollback.filter((r) => r.node_id === 'node-a');
    expect(rolledBack.rollback.slice(0, byA.length)).toEqual(byA);
    for (const entry of byA) expect(Date.parse(entry.completed_at!)).toBeLessThanOrEqual(killedAt);
    expect(rolledBack.rollback.slice(byA.length).every((r) => r.node_id === 'node-b')).toBe(true);
    expect(byA.length).toBeLessThan(3);
    expect(rolledBack.steps.map((s) => s.status)).toEqual([
      'compensated',
      'compensated',
      'compensated',
      'failed',
    ]);
    expectCleanHistory(rolledBack);

    // Recovery: from the kill to the first resumed attempt on node-b (node-b's start-up included).
    const resumedAt = Math.min(
      ...finished.slice(0, 4).map((o, k) => Date.parse(o.steps[k]!.attempts[1]!.started_at)),
    );
    expect(resumedAt - killedAt).toBeLessThan(LOCK_MS + 2 * STALLED_INTERVAL_MS + 10_000);
    const stalled = await nodeB.waitForLog((l) => l.event === 'step-stalled');
    expect([...ids, rollback]).toContain(stalled.order_id);
    // node-b put the 5 steps of the dead node back to run, and says so in the registry.
    await waitFor(
      async () => ((await registry.get('node-b'))?.stalled_recovered === 5 ? true : undefined),
      5000,
      'node-b to report 5 stalled steps recovered',
    );
  }, 120_000);
});

describe('when the nodes running one step keep dying', () => {
  it('fails the step with a clear reason after MAX_STEP_CRASHES and rolls the order back', async () => {
    system = createTestSystem();
    const env = { MAX_STEP_CRASHES: '2' };
    const id = (await system.place({ user_id: 'doomed-user' })).body.order_id;
    for (const nodeId of ['node-c', 'node-d']) {
      const node = startNode(nodeId, env);
      await waitFor(
        async () => {
          const step = (await read(id)).steps[1]!;
          return step.attempts.at(-1)?.node_id === nodeId && step.status === 'running' ? true : undefined;
        },
        // start-up, then scheduling on node-c; start-up and the dead node's takeover on node-d
        40_000,
        `pre-processing running on ${nodeId}`,
      );
      node.signal('SIGKILL');
      await node.exited;
    }
    startNode('node-e', env);
    const order = await system.waitForTerminal(id, 40_000);

    expect(order.status).toBe('failed');
    expect(order.failure).toEqual({
      step: 'pre-processing',
      reason: 'pre-processing lost its node 2 times (limit 2)',
    });
    expect(order.steps[1]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-c', 'abandoned'],
      ['node-d', 'abandoned'],
    ]);
    expect(order.steps.map((s) => s.status)).toEqual(['compensated', 'failed', 'pending', 'pending']);
    expect(order.rollback.map((r) => [r.step, r.node_id])).toEqual([['scheduling', 'node-e']]);
    expect(STEPS.slice(2).every((_, i) => order.steps[i + 2]!.attempts.length === 0)).toBe(true);
    expectCleanHistory(order);
  }, 120_000);
});
