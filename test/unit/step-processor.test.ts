// The saga engine of a step run, with a fake store and clock and scripted handlers: no Redis, no
// BullMQ worker.
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it, vi } from 'vitest';
import { STEPS } from '../../shared/domain/order.js';
import { LockLostError } from '../../workers/step-processor.js';
import { plannedReason } from '../support/step-handlers.js';
import { createWorld, fakeJob, iso, jobIdOf, ORDER_ID } from './fakes/step-world.js';

/** The calls of the handlers, as [node, kind, step]. */
const callsOf = (world: ReturnType<typeof createWorld>, node?: string) =>
  world.calls.filter((c) => node === undefined || c.nodeId === node).map((c) => [c.nodeId, c.kind, c.step]);

describe('when a step succeeds', () => {
  it('records the start, end and node of its attempt and moves the order to the next step', async () => {
    const world = createWorld();
    await expect(world.node('node-a')('scheduling')).resolves.toEqual({
      step: 'scheduling',
      outcome: 'completed',
    });
    const attempt = { node_id: 'node-a', started_at: iso(1), ended_at: iso(2), outcome: 'completed' };
    expect(world.order().steps[0]).toEqual({
      name: 'scheduling',
      status: 'completed',
      started_at: iso(1),
      completed_at: iso(2),
      node_id: 'node-a',
      attempts: [attempt],
    });
    expect(world.order()).toMatchObject({ status: 'in_progress', current_step: 'pre-processing' });
    expect(world.order().started_at).toBe(iso(1));
    expect(world.store.record(ORDER_ID)!.version).toBe(3);
    expect(callsOf(world)).toEqual([['node-a', 'run', 'scheduling']]);
  });

  it('completes the order after the last step and reports it finished once', async () => {
    const world = createWorld();
    const orderFinished = vi.fn();
    expect(await world.runChain(world.node('node-a', { observer: { orderFinished } }))).toBeUndefined();
    const order = world.order();
    expect(order).toMatchObject({ status: 'completed', current_step: 'completed', completed_at: iso(8) });
    expect(order.steps.map((s) => s.attempts.map((a) => a.outcome))).toEqual(STEPS.map(() => ['completed']));
    expect(orderFinished).toHaveBeenCalledTimes(1);
    expect(orderFinished.mock.calls[0]![0]).toMatchObject({ status: 'completed' });
  });

  it('only finishes the job, writing nothing, when a later run finds the step committed', async () => {
    const world = createWorld();
    const nodeA = world.node('node-a');
    await nodeA('scheduling');
    await expect(world.node('node-b')('scheduling')).resolves.toMatchObject({ outcome: 'completed' });
    expect(world.store.writes).toHaveLength(2);
  });
});

describe.each(STEPS.map((step, index) => ({ step, index })))('when $step fails', ({ step, index }) => {
  it('compensates the completed steps in reverse order, each once, and ends the order failed', async () => {
    const world = createWorld({ failAt: step });
    const nodeA = world.node('node-a');
    const error = await world.runChain(nodeA);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect((error as Error).message).toBe(plannedReason(step));

    const order = world.order();
    const done = STEPS.slice(0, index);
    expect(order).toMatchObject({ status: 'failed', current_step: 'failed' });
    expect(order.failure).toEqual({ step, reason: plannedReason(step) });
    expect(order.steps.map((s) => s.status)).toEqual([
      ...done.map(() => 'compensated'),
      'failed',
      ...STEPS.slice(index + 1).map(() => 'pending'),
    ]);
    expect(order.steps[index]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([['node-a', 'failed']]);
    for (const later of order.steps.slice(index + 1)) expect(later.attempts).toEqual([]);
    expect(order.rollback.map((r) => [r.step, r.node_id])).toEqual(
      [...done].reverse().map((s) => [s, 'node-a']),
    );
    let previousEnd = order.steps[index]!.completed_at!;
    for (const entry of order.rollback) {
      expect(entry.started_at > previousEnd && entry.completed_at! > entry.started_at).toBe(true);
      previousEnd = entry.completed_at!;
    }
    expect(order.completed_at! > previousEnd).toBe(true);
    expect(world.calls.filter((c) => c.kind === 'compensate').map((c) => c.step)).toEqual(
      [...done].reverse(),
    );

    // A repeated run of the failed job fails it again and writes nothing.
    const writes = world.store.writes.length;
    await expect(nodeA(step)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(world.store.writes).toHaveLength(writes);
  });
});

describe('when the run loses its fence', () => {
  it('throws LockLostError, writing nothing more, when the lock is taken during the step', async () => {
    const world = createWorld();
    const lockLost = vi.fn();
    world.hooks.run = () => world.store.lock(jobIdOf('scheduling'), 'another-run');
    await expect(world.node('node-a', { observer: { lockLost } })('scheduling')).rejects.toBeInstanceOf(
      LockLostError,
    );
    expect(world.store.writes).toHaveLength(1);
    expect(world.store.writeAttempts()).toBe(2); // the refused completion, then nothing
    expect(world.order().steps[0]!.attempts.map((a) => a.outcome)).toEqual(['running']);
    expect(lockLost).toHaveBeenCalledWith('scheduling');
  });

  it('writes nothing at all when the lock is gone before the first write', async () => {
    const world = createWorld();
    const job = fakeJob('scheduling');
    await expect(world.node('node-a').process(job, 'token-a')).rejects.toBeInstanceOf(LockLostError);
    expect(world.store.writeAttempts()).toBe(1);
    expect(world.store.writes).toEqual([]);
  });

  it('throws LockLostError, writing nothing more, when another writer changed the record', async () => {
    const world = createWorld();
    world.hooks.run = () => world.store.bumpVersion(ORDER_ID);
    await expect(world.node('node-a')('scheduling')).rejects.toBeInstanceOf(LockLostError);
    expect(world.store.writes).toHaveLength(1); // the start; no completion, no `error` attempt
    expect(world.store.writeAttempts()).toBe(2);
  });
});

describe('when a node lost its lock in the middle of a rollback', () => {
  it('resumes on another node: continues the open undo and compensates nothing twice', async () => {
    const world = createWorld({ failAt: 'post-processing' });
    let undos = 0;
    world.hooks.compensate = () => {
      if (++undos === 2) world.store.lock(jobIdOf('post-processing'), 'stolen');
    };
    expect(await world.runChain(world.node('node-a'))).toBeInstanceOf(LockLostError);
    expect(world.store.writeAttempts() - world.store.writes.length).toBe(1); // nothing after the refusal
    const stopped = world.order();
    expect(stopped.status).toBe('rolling_back');
    expect(stopped.rollback.map((r) => [r.step, r.node_id, r.completed_at !== null])).toEqual([
      ['processing', 'node-a', true],
      ['pre-processing', 'node-a', false],
    ]);

    world.hooks.compensate = undefined;
    const writes = world.store.writes.length;
    await expect(world.node('node-b')('post-processing')).rejects.toBeInstanceOf(UnrecoverableError);
    const order = world.order();
    expect(order.status).toBe('failed');
    expect(order.rollback.map((r) => [r.step, r.node_id])).toEqual([
      ['processing', 'node-a'],
      ['pre-processing', 'node-b'],
      ['scheduling', 'node-b'],
    ]);
    expect(order.rollback.every((r) => r.completed_at !== null)).toBe(true);
    expect(order.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'compensated', 'failed']);
    expect(order.steps[3]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([['node-a', 'failed']]);
    expect(callsOf(world, 'node-b')).toEqual([
      ['node-b', 'compensate', 'pre-processing'],
      ['node-b', 'compensate', 'scheduling'],
    ]);
    expect(world.store.writes.length - writes).toBe(5); // two undos of two writes, then the end
  });
});

describe('when the nodes running one step keep dying', () => {
  async function afterDeaths(...nodes: string[]) {
    const world = createWorld();
    await world.node('node-a')('scheduling');
    world.hooks.run = () => world.store.lock(jobIdOf('pre-processing'), 'expired');
    for (const node of nodes) await expect(world.node(node)('pre-processing')).rejects.toThrow(LockLostError);
    world.hooks.run = undefined;
    return world;
  }

  it('fails the step after MAX_STEP_CRASHES started runs and rolls the order back', async () => {
    const world = await afterDeaths('node-c', 'node-d');
    const reason = 'pre-processing lost its node 2 times (limit 2)';
    await expect(world.node('node-e')('pre-processing')).rejects.toThrow(new UnrecoverableError(reason));
    const order = world.order();
    expect(order.failure).toEqual({ step: 'pre-processing', reason });
    expect(order.steps[1]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-c', 'abandoned'],
      ['node-d', 'abandoned'],
    ]);
    expect(order.steps.map((s) => s.status)).toEqual(['compensated', 'failed', 'pending', 'pending']);
    expect(order.rollback.map((r) => [r.step, r.node_id])).toEqual([['scheduling', 'node-e']]);
    expect(callsOf(world, 'node-e')).toEqual([['node-e', 'compensate', 'scheduling']]);
  });

  it("counts the runs that died before their start write by the job's stalled counter", async () => {
    const world = await afterDeaths();
    await expect(world.node('node-e')('pre-processing', { stalledCounter: 2 })).rejects.toThrow(
      'pre-processing lost its node 2 times (limit 2)',
    );
    expect(world.order().steps[1]).toMatchObject({ status: 'failed', attempts: [] });
  });

  it('still runs the step while fewer runs than the limit were lost', async () => {
    const world = await afterDeaths('node-c');
    await world.node('node-e')('pre-processing', { stalledCounter: 1 });
    expect(world.order().steps[1]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-c', 'abandoned'],
      ['node-e', 'completed'],
    ]);
  });
});

describe('when the step hits an infrastructure error', () => {
  it('ends the attempt as error and rethrows for BullMQ to retry; the retry completes', async () => {
    const world = createWorld();
    world.hooks.run = () => {
      throw new Error('connection reset');
    };
    await expect(world.node('node-a')('scheduling')).rejects.toThrow('connection reset');
    expect(world.order()).toMatchObject({ status: 'in_progress', failure: null });
    world.hooks.run = undefined;
    await world.node('node-b')('scheduling');
    expect(world.order().steps[0]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-a', 'error'],
      ['node-b', 'completed'],
    ]);
  });
});

describe("when the node's own copy of the record is stale", () => {
  it('reads the record again and finds the step committed elsewhere, losing no run', async () => {
    const world = createWorld();
    const nodeA = world.node('node-a');
    await nodeA('scheduling');
    await world.node('node-b')('pre-processing');
    const writes = world.store.writes.length;
    await expect(nodeA('pre-processing')).resolves.toEqual({ step: 'pre-processing', outcome: 'completed' });
    expect(world.store.reads()).toBe(3); // node-a once, node-b once, node-a again after the refused write
    expect(world.store.writes).toHaveLength(writes);
  });
});

describe('when a landed write loses its reply (issue 12)', () => {
  it.each([
    { how: 'resend' as const, case: 'ioredis resends it after reconnecting' },
    { how: 'throw' as const, case: 'the caller gets a connection error' },
  ])('runs the whole chain as if the replies had come, when $case', async ({ how }) => {
    const world = createWorld();
    const lockLost = vi.fn();
    // Every write's first try lands and loses its reply; its resend (the next try) gets one.
    for (let n = 1; n <= 16; n += 2) world.store.breakWrite(n, { reply: how });
    expect(await world.runChain(world.node('node-a', { observer: { lockLost } }))).toBeUndefined();
    const order = world.order();
    expect(order.status).toBe('completed');
    expect(order.steps.map((s) => s.attempts.map((a) => [a.node_id, a.outcome]))).toEqual(
      STEPS.map(() => [['node-a', 'completed']]),
    );
    expect(world.store.writes).toHaveLength(8); // each write landed once
    expect(world.store.record(ORDER_ID)!.version).toBe(9);
    expect(lockLost).not.toHaveBeenCalled();
    expect(world.logs.filter((l) => l.event === 'lock-lost')).toEqual([]);
  });

  it('still writes nothing when the lock was taken while the connection was down', async () => {
    const world = createWorld();
    const lockLost = vi.fn();
    // The completion never reached the store, and the lock expired before it could be resent.
    const meanwhile = () => world.store.lock(jobIdOf('scheduling'), 'another-run');
    world.store.breakWrite(2, { reply: 'throw', lands: false, meanwhile });
    await expect(world.node('node-a', { observer: { lockLost } })('scheduling')).rejects.toBeInstanceOf(
      LockLostError,
    );
    expect(world.store.writes).toHaveLength(1); // the start only
    expect(world.order().steps[0]!.attempts.map((a) => a.outcome)).toEqual(['running']);
    expect(lockLost).toHaveBeenCalledWith('scheduling');
  });
});

describe('when a compensation hits an infrastructure error (issue 12)', () => {
  /** Runs the chain of an order failing at processing whose first `errors` undos throw. */
  async function withUndoErrors(errors: number) {
    const world = createWorld({ failAt: 'processing' });
    const lockLost = vi.fn();
    let undos = 0;
    world.hooks.compensate = () => {
      if (++undos <= errors) throw new Error('connection reset');
    };
    const nodeA = world.node('node-a', { observer: { lockLost } });
    return { world, lockLost, nodeA, error: await world.runChain(nodeA) };
  }

  it('reports no lost lock and leaves the open undo, marked error, to the retry', async () => {
    const { world, lockLost, error } = await withUndoErrors(1);
    expect((error as Error).message).toBe('connection reset');
    expect(lockLost).not.toHaveBeenCalled();
    expect(world.logs.filter((l) => l.event === 'lock-lost')).toEqual([]);
    const order = world.order();
    expect(order.status).toBe('rolling_back');
    expect(order.steps[2]!.attempts.map((a) => a.outcome)).toEqual(['failed']);
    expect(order.rollback.map((r) => [r.step, r.node_id, r.completed_at])).toEqual([
      ['pre-processing', 'node-a', null],
    ]);
    expect(order.rollback[0]!.attempts!.map((a) => [a.node_id, a.outcome])).toEqual([['node-a', 'error']]);
  });

  it("resumes on BullMQ's retry and finishes the rollback, compensating nothing twice", async () => {
    const { world, nodeA, lockLost } = await withUndoErrors(1);
    await expect(nodeA('processing')).rejects.toThrow(new UnrecoverableError(plannedReason('processing')));
    const order = world.order();
    expect(order.status).toBe('failed');
    expect(order.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'failed', 'pending']);
    expect(order.rollback.map((r) => [r.step, r.completed_at !== null])).toEqual([
      ['pre-processing', true],
      ['scheduling', true],
    ]);
    expect(order.rollback[0]!.attempts!.map((a) => a.outcome)).toEqual(['error', 'completed']);
    expect(lockLost).not.toHaveBeenCalled();
  });

  it('counts no errored run as a lost node: more errors than the crash limit still end compensated', async () => {
    const { world, nodeA } = await withUndoErrors(3);
    for (let retry = 0; retry < 2; retry++)
      await expect(nodeA('processing')).rejects.toThrow('connection reset');
    await expect(nodeA('processing')).rejects.toThrow(plannedReason('processing'));
    expect(world.order().steps.map((s) => s.status)).toEqual([
      'compensated',
      'compensated',
      'failed',
      'pending',
    ]);
    expect(world.order().rollback_failure).toBeUndefined();
  });
});

describe('when the nodes rolling back keep dying (issue 12)', () => {
  /** An order failed at processing whose undo of pre-processing lost its node on each of `nodes`. */
  async function rollbackLostOn(...nodes: string[]) {
    const world = createWorld({ failAt: 'processing' });
    world.hooks.compensate = () => world.store.lock(jobIdOf('processing'), 'expired');
    const [first, ...resumes] = nodes;
    expect(await world.runChain(world.node(first!))).toBeInstanceOf(LockLostError);
    for (const node of resumes) await expect(world.node(node)('processing')).rejects.toThrow(LockLostError);
    world.hooks.compensate = undefined;
    return world;
  }

  it('ends the order failed after MAX_STEP_CRASHES lost runs, naming the undo not run and why', async () => {
    const world = await rollbackLostOn('node-a', 'node-b');
    const orderFinished = vi.fn();
    const reason = 'rollback lost its node 2 times (limit 2)';
    await expect(world.node('node-c', { observer: { orderFinished } })('processing')).rejects.toThrow(
      new UnrecoverableError(
        `${plannedReason('processing')}; ${reason}: pre-processing, scheduling not compensated`,
      ),
    );
    const order = world.order();
    expect(order).toMatchObject({ status: 'failed', current_step: 'failed' });
    expect(order.failure).toEqual({ step: 'processing', reason: plannedReason('processing') });
    expect(order.rollback_failure).toEqual({
      step: 'pre-processing',
      reason,
      not_compensated: ['pre-processing', 'scheduling'],
    });
    expect(order.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'failed', 'pending']);
    expect(order.rollback.map((r) => [r.step, r.node_id, r.completed_at])).toEqual([
      ['pre-processing', 'node-b', null],
    ]);
    expect(order.rollback[0]!.attempts!.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-a', 'abandoned'],
      ['node-b', 'abandoned'],
    ]);
    expect(callsOf(world, 'node-c')).toEqual([]);
    expect(orderFinished).toHaveBeenCalledTimes(1);

    // The order is terminal: a further run of the job only fails it, writing nothing.
    const writes = world.store.writes.length;
    await expect(world.node('node-d')('processing')).rejects.toBeInstanceOf(UnrecoverableError);
    expect(world.store.writes).toHaveLength(writes);
  });

  it('still resumes and finishes the rollback while fewer runs than the limit were lost', async () => {
    const world = await rollbackLostOn('node-a');
    await expect(world.node('node-b')('processing')).rejects.toThrow(plannedReason('processing'));
    const order = world.order();
    expect(order.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'failed', 'pending']);
    expect(order.rollback[0]!.attempts!.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-a', 'abandoned'],
      ['node-b', 'completed'],
    ]);
    expect(order.rollback_failure).toBeUndefined();
  });
});
