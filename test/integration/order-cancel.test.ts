// Cancelling orders on the real cluster: before a step started, during each step, during a failure's
// rollback, after the end, and racing the last step's completion. Handlers block on promises the
// test releases, so nothing here depends on timing.
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal, type OrderRecord, STEPS, type StepName } from '../../shared/domain/order.js';
import { createLogger } from '../../shared/logger.js';
import { stepJobId } from '../../shared/order-id.js';
import { createStepProcessor } from '../../workers/step-processor.js';
import { type StepContext, StepFailure } from '../../workers/steps/contract.js';
import { scriptedHandlers } from '../support/step-handlers.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

/** A promise the test resolves. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Where a user's orders block: entering `step` (or its undo) resolves `entered`, then waits for `release`. */
interface Gate {
  step: StepName;
  kind: 'run' | 'compensate';
  entered: ReturnType<typeof deferred>;
  release: ReturnType<typeof deferred>;
  /** Ignores the run's abort signal: finishes only when released (the completion race). */
  deaf?: boolean;
  /** Throws a StepFailure at this step (after the gate of `run`, if any). */
  failAt?: StepName;
}
const gates = new Map<string, Gate>();

function gate(user: string, step: StepName, kind: Gate['kind'] = 'run', extra: Partial<Gate> = {}): Gate {
  const made = { step, kind, entered: deferred(), release: deferred(), ...extra };
  gates.set(user, made);
  return made;
}

async function pass(ctx: StepContext, kind: Gate['kind']): Promise<void> {
  const found = gates.get(ctx.order.user_id);
  if (found?.step === ctx.step && found.kind === kind) {
    found.entered.resolve();
    if (found.deaf) await found.release.promise;
    else {
      const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      await Promise.race([found.release.promise, aborted]);
      ctx.signal.throwIfAborted();
    }
  }
  if (kind === 'run' && found?.failAt === ctx.step) throw new StepFailure(`${ctx.step} refused`);
}

const handlers = scriptedHandlers({
  run: (ctx) => pass(ctx, 'run'),
  compensate: (ctx) => pass(ctx, 'compensate'),
});
const system = createTestSystem();
beforeAll(() => void system.startNode({}, { handlers }));
afterAll(() => system.close());

async function cancel(sys: TestSystem, orderId: string, body?: unknown) {
  const res = await sys.app.request(`/orders/${orderId}/cancel`, {
    method: 'POST',
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: an answer or a problem, read field by field
  const answer = (await res.json()) as Record<string, any>;
  return { status: res.status, type: res.headers.get('content-type'), body: answer };
}

const ended = (sys: TestSystem, orderId: string) =>
  waitFor(
    async () => {
      const { body } = await sys.get(`/orders/${orderId}`);
      return body && isTerminal(body.status) ? (body as OrderRecord) : undefined;
    },
    20_000,
    `order ${orderId} to end`,
  );

/** The compensated steps are exactly the completed ones, newest first. */
function expectUndoneInReverse(order: OrderRecord, completed: StepName[]) {
  expect(order.rollback.map((r) => r.step)).toEqual([...completed].reverse());
  expect(order.rollback.every((r) => r.completed_at !== null && r.node_id === 'node-1')).toBe(true);
  for (const step of completed) expect(order.steps.find((s) => s.name === step)?.status).toBe('compensated');
}

/** Runs `body` on a system of its own with no worker node, on an order of `user` placed there. */
async function withIdleOrder(
  user: string,
  body: (idle: TestSystem, orderId: string, shard: number) => Promise<void>,
) {
  const idle = createTestSystem();
  try {
    const placed = await idle.place({ user_id: user });
    await body(idle, placed.body.order_id as string, placed.body.shard as number);
  } finally {
    await idle.close();
  }
}

describe('when no step has started', () => {
  it('cancels at once, removes the chain, and a node started later runs nothing of it', () =>
    withIdleOrder('idle-user', async (idle, orderId) => {
      const answer = await cancel(idle, orderId, { reason: 'changed my mind', requested_by: 'shop' });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        order_id: orderId,
        status: 'cancelled',
        outcome: 'cancelled',
        cancellation: { reason: 'changed my mind', requested_by: 'shop', step: null, node_id: null },
        links: { events: `/orders/${orderId}/events` },
      });
      const keys = idle.keyspace.ofOrder(orderId)!;
      const queue = new Queue(keys.queueName, { connection: idle.store, prefix: keys.queuePrefix });
      for (const step of STEPS) expect(await queue.getJob(stepJobId(orderId, step))).toBeUndefined();
      await queue.close();

      const own = scriptedHandlers();
      idle.startNode({}, { handlers: own });
      const other = await idle.place({ user_id: 'idle-user-2' });
      await waitFor(async () =>
        (await idle.get(`/orders/${other.body.order_id}`)).body.status === 'completed' ? true : undefined,
      );
      const { body } = await idle.get(`/orders/${orderId}`);
      expect(body).toMatchObject({ status: 'cancelled', current_step: 'cancelled', rollback: [] });
      expect(body.steps.every((s: { attempts: unknown[] }) => s.attempts.length === 0)).toBe(true);
      expect(own.calls.filter((c) => c.kind === 'run')).toHaveLength(4); // the other order's four steps only
      expect(await cancel(idle, orderId)).toMatchObject({ status: 200, body: answer.body });
      const listed = (await idle.get('/orders?user_id=idle-user')).body.orders;
      expect(listed.map((o: OrderRecord) => [o.order_id, o.status])).toEqual([[orderId, 'cancelled']]);
      // Counted by the API that cancelled it (a node counts the orders it cancels, with its heartbeat).
      const counted = async () => ((await idle.get('/stats')).body.orders.cancelled === 1 ? true : undefined);
      await waitFor(counted, 5000, '/stats to count the cancelled order');
    }));
});

describe('when a node had fetched the first step as the order was cancelled', () => {
  it('keeps the job it holds (the chain removal skips it) and the run ends it without running the step', () =>
    withIdleOrder('fetched-user', async (idle, orderId, shard) => {
      const worker = idle.handWorker(shard);
      const token = 'hand-token';
      const job = await worker.getNextJob(token, { block: false });
      expect(job?.id).toBe(stepJobId(orderId, 'scheduling'));
      expect((await cancel(idle, orderId)).body.outcome).toBe('cancelled');
      const own = scriptedHandlers();
      const processor = createStepProcessor({
        ...{ orders: idle.orders, nodeId: 'hand-node', handlers: own, maxStepCrashes: 2 },
        logger: createLogger(idle.config, { service: 'test' }),
      });
      await expect(processor(job!, token)).rejects.toThrow(/cannot run: order is cancelled/);
      expect(own.calls).toEqual([]);
      const { body } = await idle.get(`/orders/${orderId}`);
      expect(body).toMatchObject({ status: 'cancelled', rollback: [] });
      expect(body.steps[0].attempts).toEqual([]);
    }));
});

describe.each(STEPS.map((step, index) => ({ step, index })))(
  'when cancelled during $step',
  ({ step, index }) => {
    it('stops the step, undoes the completed steps newest first and ends cancelled', async () => {
      const user = `during-${index}`;
      const blocked = gate(user, step);
      const placed = await system.place({ user_id: user });
      const orderId = placed.body.order_id as string;
      await blocked.entered.promise;

      const asked = Date.now();
      const answer = await cancel(system, orderId, { reason: `stop at ${step}` });
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ status: 'in_progress', outcome: 'cancelling' });
      expect(answer.body.cancellation).toMatchObject({
        reason: `stop at ${step}`,
        requested_by: null,
        step: null,
      });

      const order = await ended(system, orderId);
      expect(order.status).toBe('cancelled');
      expect(order.current_step).toBe('cancelled');
      expect(order.failure).toBeNull();
      const stopped = order.steps[index]!;
      expect(stopped.status).toBe('cancelled');
      expect(stopped.attempts.map((a) => a.outcome)).toEqual(['cancelled']);
      // Noticed by the node's watch within its tick, well inside the promised second.
      expect(Date.parse(stopped.attempts[0]!.ended_at!) - asked).toBeLessThan(1000);
      expectUndoneInReverse(order, STEPS.slice(0, index));
      for (const later of order.steps.slice(index + 1)) expect(later.attempts).toEqual([]);
      expect(order.cancellation).toMatchObject({
        requested_at: answer.body.cancellation.requested_at,
        reason: `stop at ${step}`,
        step,
        node_id: 'node-1',
      });

      const again = await cancel(system, orderId, { reason: 'a second time' });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({
        status: 'cancelled',
        outcome: 'cancelled',
        cancellation: order.cancellation,
      });
    });
  },
);

describe('when a step failed and its rollback is under way', () => {
  it('refuses the cancel with 409, and the order ends failed', async () => {
    const user = 'failing-then-cancel';
    const undo = gate(user, 'scheduling', 'compensate', { failAt: 'pre-processing' });
    const placed = await system.place({ user_id: user });
    await undo.entered.promise;
    const answer = await cancel(system, placed.body.order_id);
    expect(answer.status).toBe(409);
    expect(answer.type).toMatch(/application\/problem\+json/);
    expect(answer.body.detail).toMatch(/rolling back after pre-processing failed: it will end failed/);
    undo.release.resolve();
    const order = await ended(system, placed.body.order_id);
    expect(order.status).toBe('failed');
    expect(order.cancellation).toBeUndefined();
  });
});

describe('when the order has ended, or is no order', () => {
  it('answers 409 for a completed order, 404 for an unknown id and 400 for a malformed one or body', async () => {
    const placed = await system.place({ user_id: 'done-user' });
    await ended(system, placed.body.order_id);
    const done = await cancel(system, placed.body.order_id);
    expect(done.status).toBe(409);
    expect(done.body).toMatchObject({ status: 409, order_status: 'completed' });
    expect(done.body.detail).toMatch(/completed .*too late/);

    expect((await cancel(system, '3-01JD3Z9T4S8X5Q2W7E6R1Y0V9K')).status).toBe(404);
    expect((await cancel(system, 'not an id!')).status).toBe(400);
    expect((await cancel(system, placed.body.order_id, { reason: 'x', extra: 1 })).status).toBe(400);
    const { body } = await system.get(`/orders/${placed.body.order_id}`);
    expect(body.cancellation).toBeUndefined();
  });

  it('finds an order by its client order id and user', async () => {
    const user = 'client-id-user';
    const blocked = gate(user, 'scheduling');
    const placed = await system.place({ user_id: user, order_id: 'PO-77' });
    await blocked.entered.promise;
    const res = await system.app.request(`/orders/PO-77/cancel?user_id=${user}`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect((await ended(system, placed.body.order_id)).status).toBe('cancelled');
  });
});

describe('when a cancel races the last step completing', () => {
  it('the cancel stored first wins: the done last step is committed, then undone with the rest', async () => {
    const user = 'race-cancel-first';
    const last = gate(user, 'post-processing', 'run', { deaf: true });
    const placed = await system.place({ user_id: user });
    await last.entered.promise;
    const answer = await cancel(system, placed.body.order_id);
    expect(answer.status).toBe(202);
    last.release.resolve();
    const order = await ended(system, placed.body.order_id);
    expect(order.status).toBe('cancelled');
    expect(order.steps[3]!.attempts.map((a) => a.outcome)).toEqual(['completed']);
    expectUndoneInReverse(order, [...STEPS]);
    expect(order.cancellation).toMatchObject({ step: 'post-processing' });
  });

  it('the completion stored first wins: the cancel is refused as too late, nothing recorded', async () => {
    const user = 'race-complete-first';
    const last = gate(user, 'post-processing', 'run', { deaf: true });
    const placed = await system.place({ user_id: user });
    await last.entered.promise;
    last.release.resolve();
    await ended(system, placed.body.order_id);
    const answer = await cancel(system, placed.body.order_id);
    expect(answer.status).toBe(409);
    const { body } = await system.get(`/orders/${placed.body.order_id}`);
    expect(body.status).toBe('completed');
    expect(body.cancellation).toBeUndefined();
  });

  it('released together, every order has one winner and its record and answer agree', async () => {
    const users = Array.from({ length: 8 }, (_, i) => `race-together-${i}`);
    const lasts = users.map((user) => gate(user, 'post-processing', 'run', { deaf: true }));
    const placed = await Promise.all(users.map((user) => system.place({ user_id: user })));
    await Promise.all(lasts.map((g) => g.entered.promise));
    const answers = await Promise.all(
      placed.map((p, i) => {
        const asked = cancel(system, p.body.order_id);
        lasts[i]!.release.resolve();
        return asked;
      }),
    );
    for (const [i, p] of placed.entries()) {
      const order = await ended(system, p.body.order_id);
      if (answers[i]!.status === 409) {
        expect(order.status).toBe('completed');
        expect(order.cancellation).toBeUndefined();
      } else {
        expect(answers[i]!.status).toBe(202);
        expect(order.status).toBe('cancelled');
        expectUndoneInReverse(order, [...STEPS]);
      }
    }
  });
});

describe('the API document', () => {
  it('describes cancel and the event stream from the schemas that validate them', async () => {
    const { body } = await system.get('/openapi.json');
    const cancelOp = body.paths['/orders/{order_id}/cancel'].post;
    expect(Object.keys(cancelOp.responses).sort()).toEqual([
      '200',
      '202',
      '400',
      '404',
      '409',
      '413',
      '415',
      '503',
    ]);
    expect(cancelOp.requestBody.required).toBe(false);
    expect(body.components.schemas.CancelRequest.properties).toHaveProperty('reason');
    expect(body.components.schemas.Order.properties).toHaveProperty('cancellation');
    expect(body.components.schemas.Order.properties.status.enum).toContain('cancelled');
    const events = body.paths['/orders/{order_id}/events'].get;
    expect(Object.keys(events.responses['200'].content)).toEqual(['text/event-stream']);
    expect(events.description).toMatch(/Last-Event-ID/);
  });
});
