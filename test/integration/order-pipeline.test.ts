// The order pipeline on the real cluster: placement, the four-step chain, saga rollback, fencing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OrderRecord, STEPS, type StepName } from '../../shared/domain/order.js';
import { shardOf } from '../../shared/sharding.js';
import { simulatedHandlers } from '../../workers/steps/simulated.js';
import { failingAt, plannedReason } from '../support/step-handlers.js';
import { createTestSystem, waitFor } from '../support/system.js';

const system = createTestSystem({ STEP_MS: '120' });
/** The users whose orders fail, and where: one per step. */
const failing = new Map<string, StepName>(STEPS.map((step, index) => [`unlucky-${index}`, step]));
beforeAll(() => {
  const handlers = failingAt((order) => failing.get(order.user_id), simulatedHandlers(system.config));
  system.startNode({}, { handlers });
  system.startNode({}, { handlers });
});
afterAll(() => system.close());

const at = (iso: string | null) => Date.parse(iso ?? 'invalid');

function expectStepsInOrder(order: OrderRecord) {
  for (const [i, step] of order.steps.entries()) {
    expect(at(step.started_at)).toBeLessThanOrEqual(at(step.completed_at));
    const previous = order.steps[i - 1];
    if (previous) expect(at(step.started_at)).toBeGreaterThanOrEqual(at(previous.completed_at));
  }
}

describe('when an order succeeds', () => {
  it('runs the four steps in order and completes, current_step moving through them', async () => {
    const placed = await system.place({ user_id: 'happy-user', items: [{ sku: 'A-1', qty: 2 }] });
    expect(placed.status).toBe(202);
    expect(placed.headers.get('location')).toBe(`/orders/${placed.body.order_id}`);
    expect(placed.body).toMatchObject({ status: 'accepted', shard: shardOf('happy-user', 12) });

    const seen: string[] = [];
    const order = await waitFor(async () => {
      const { body } = await system.get(`/orders/${placed.body.order_id}`);
      if (seen.at(-1) !== body.current_step) seen.push(body.current_step);
      return body.status === 'completed' ? (body as OrderRecord) : undefined;
    });

    expect(seen.filter((s) => s !== 'completed')).toEqual(
      [...STEPS].filter((s) => seen.includes(s)), // never backwards, never out of order
    );
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(order.current_step).toBe('completed');
    expect(order.steps.map((s) => [s.name, s.status])).toEqual(STEPS.map((s) => [s, 'completed']));
    expect(order.steps.every((s) => s.attempts.length === 1 && s.attempts[0]!.outcome === 'completed')).toBe(
      true,
    );
    expect(order.steps.every((s) => s.node_id === 'node-1' || s.node_id === 'node-2')).toBe(true);
    expectStepsInOrder(order);
    expect(at(order.started_at)).toBe(at(order.steps[0]!.started_at));
    expect(at(order.completed_at)).toBe(at(order.steps[3]!.completed_at));
    expect(at(order.completed_at) - at(order.started_at)).toBeGreaterThanOrEqual(4 * 120);
    expect(order.failure).toBeNull();
    expect(order.rollback).toEqual([]);
    expect(order.items).toEqual([{ sku: 'A-1', qty: 2 }]);
  });
});

describe.each(STEPS.map((step, index) => ({ step, index })))('when $step fails', ({ step, index }) => {
  it('rolls back exactly the completed steps in reverse order and never runs the later ones', async () => {
    const placed = await system.place({ user_id: `unlucky-${index}` });
    const order = await system.waitForTerminal(placed.body.order_id);

    expect(order.status).toBe('failed');
    expect(order.current_step).toBe('failed');
    expect(order.failure).toEqual({ step, reason: plannedReason(step) });
    const done = STEPS.slice(0, index);
    expect(order.steps.map((s) => s.status)).toEqual([
      ...done.map(() => 'compensated'),
      'failed',
      ...STEPS.slice(index + 1).map(() => 'pending'),
    ]);
    for (const later of order.steps.slice(index + 1)) expect(later.attempts).toEqual([]);
    expect(order.rollback.map((r) => r.step)).toEqual([...done].reverse());
    let previousEnd = at(order.steps[index]!.completed_at);
    for (const entry of order.rollback) {
      expect(at(entry.started_at)).toBeGreaterThanOrEqual(previousEnd);
      expect(at(entry.completed_at)).toBeGreaterThanOrEqual(at(entry.started_at));
      expect(entry.node_id).toMatch(/^node-[12]$/);
      previousEnd = at(entry.completed_at);
    }
    expect(at(order.completed_at)).toBeGreaterThanOrEqual(previousEnd);
  });
});

describe('when many users order at once', () => {
  it('spreads their orders over every shard and finishes them all', async () => {
    const users = Array.from({ length: 96 }, (_, i) => `spread-user-${i}`);
    const placed = await Promise.all(users.map((user_id) => system.place({ user_id, region: 'eu' })));
    expect(placed.every((p) => p.status === 202)).toBe(true);
    expect(new Set(placed.map((p) => p.body.shard)).size).toBe(12);
    for (const p of placed) expect(p.body.order_id.startsWith(`${p.body.shard}-`)).toBe(true);

    const orders = await Promise.all(placed.map((p) => system.waitForTerminal(p.body.order_id, 40_000)));
    expect(orders.every((o) => o.status === 'completed')).toBe(true);
  });

  it("lists a user's orders newest first, page by page", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await system.place({ user_id: 'pager' })).body.order_id);
    const first = await system.get('/orders?user_id=pager&limit=2');
    expect(first.body.orders.map((o: OrderRecord) => o.order_id)).toEqual([ids[4], ids[3]]);
    const second = await system.get(`/orders?user_id=pager&limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.orders.map((o: OrderRecord) => o.order_id)).toEqual([ids[2], ids[1]]);
    const last = await system.get(`/orders?user_id=pager&limit=2&cursor=${second.body.next_cursor}`);
    expect(last.body).toMatchObject({ next_cursor: null });
    expect(last.body.orders.map((o: OrderRecord) => o.order_id)).toEqual([ids[0]]);
  });
});
