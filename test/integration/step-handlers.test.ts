// Real work plugged into the saga engine: the HTTP step of workers/steps/examples/http-step.ts does
// `processing` against a small payment service started here, through a worker node on the cluster.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrderRecord } from '../../shared/domain/order.js';
import { httpStep, idempotencyKey } from '../../workers/steps/examples/http-step.js';
import { simulatedHandlers } from '../../workers/steps/simulated.js';
import { failingAt, plannedReason } from '../support/step-handlers.js';
import { createTestSystem } from '../support/system.js';

/** How the service treats a user's charges: `flaky` answers 503 first, `slow` answers too late first. */
const BEHAVIOUR: Record<string, 'declined' | 'flaky' | 'slow'> = {
  'declined-user': 'declined',
  'flaky-user': 'flaky',
  'slow-user': 'slow',
};
const TIMEOUT_MS = 300;

/** Every call the service got, and each charge or refund it applied (once per idempotency key). */
const calls: Array<{ path: string; key: string; orderId: string }> = [];
const applied: string[] = [];
const timers = new Set<NodeJS.Timeout>();
const service = createServer((req, res) => {
  let text = '';
  req.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  req.on('end', () => {
    const body = JSON.parse(text) as { order_id: string; user_id: string };
    const key = String(req.headers['idempotency-key']);
    const first = !calls.some((c) => c.key === key);
    calls.push({ path: req.url!, key, orderId: body.order_id });
    const behaviour = BEHAVIOUR[body.user_id];
    const answer = (status: number, message = '') => res.writeHead(status).end(message);
    if (behaviour === 'declined' && req.url === '/charge') return answer(402, 'card declined');
    if (behaviour === 'flaky' && first) return answer(503, 'try later');
    // Idempotent as a payment service is: a key already applied is answered, not applied again.
    if (!applied.includes(key)) applied.push(key);
    if (behaviour === 'slow' && first) {
      const timer = setTimeout(() => answer(200), 3 * TIMEOUT_MS);
      timers.add(timer);
      return;
    }
    answer(200);
  });
});

const system = createTestSystem();
const orders = new Map<string, OrderRecord>();

beforeAll(async () => {
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/charge`;
  const steps = { ...simulatedHandlers(system.config), processing: httpStep({ url, timeoutMs: TIMEOUT_MS }) };
  // refund-user's order fails after it was charged, so the charge is refunded by the rollback.
  const failAt = (order: { user_id: string }) => (order.user_id === 'refund-user' ? 'post-processing' : null);
  system.startNode({}, { handlers: failingAt(failAt, steps) });
  const users = ['ok-user', 'declined-user', 'flaky-user', 'slow-user', 'refund-user'];
  const placed = await Promise.all(users.map((user_id) => system.place({ user_id })));
  const finished = await Promise.all(placed.map((p) => system.waitForTerminal(p.body.order_id)));
  for (const [i, user] of users.entries()) orders.set(user, finished[i]!);
});

afterAll(async () => {
  for (const timer of timers) clearTimeout(timer);
  service.closeAllConnections();
  await new Promise((resolve) => service.close(resolve));
  await system.close();
});

const processing = (order: OrderRecord) => order.steps.find((s) => s.name === 'processing')!;
const outcomes = (order: OrderRecord) => processing(order).attempts.map((a) => a.outcome);
const callsOf = (order: OrderRecord) => calls.filter((c) => c.orderId === order.order_id);
const charge = (order: OrderRecord) => idempotencyKey({ order, step: 'processing' }, 'do');

describe('a step that calls a service', () => {
  it('completes when the service accepts, charging once', () => {
    const order = orders.get('ok-user')!;
    expect(order.status).toBe('completed');
    expect(outcomes(order)).toEqual(['completed']);
    expect(callsOf(order)).toEqual([{ path: '/charge', key: charge(order), orderId: order.order_id }]);
    expect(applied.filter((k) => k === charge(order))).toHaveLength(1);
  });

  it('fails the step for good on a 4xx and rolls back the steps before it, without a retry', () => {
    const order = orders.get('declined-user')!;
    expect(order.status).toBe('failed');
    expect(order.failure).toEqual({ step: 'processing', reason: 'processing refused: 402 card declined' });
    expect(outcomes(order)).toEqual(['failed']);
    expect(order.rollback.map((r) => r.step)).toEqual(['pre-processing', 'scheduling']);
    expect(callsOf(order).map((c) => c.path)).toEqual(['/charge']); // nothing charged, nothing to refund
  });

  it.each([
    { user: 'flaky-user', case: 'a 5xx' },
    { user: 'slow-user', case: 'no answer within the deadline' },
  ])('retries after $case under the same key, and the service charges once', ({ user }) => {
    const order = orders.get(user)!;
    expect(order.status).toBe('completed');
    expect(outcomes(order)).toEqual(['error', 'completed']);
    expect(callsOf(order).map((c) => [c.path, c.key])).toEqual([
      ['/charge', charge(order)],
      ['/charge', charge(order)],
    ]);
    expect(applied.filter((k) => k === charge(order))).toHaveLength(1);
  });

  it('refunds the charge when a later step fails, under a key of its own', () => {
    const order = orders.get('refund-user')!;
    expect(order.status).toBe('failed');
    expect(order.failure).toEqual({ step: 'post-processing', reason: plannedReason('post-processing') });
    expect(order.rollback.map((r) => r.step)).toEqual(['processing', 'pre-processing', 'scheduling']);
    const refund = idempotencyKey({ order, step: 'processing' }, 'undo');
    expect(callsOf(order).map((c) => [c.path, c.key])).toEqual([
      ['/charge', charge(order)],
      ['/charge/undo', refund],
    ]);
    expect(applied).toContain(refund);
  });
});
