// What the saga engine promises a step handler (workers/steps/contract.ts): its context, its abort
// signal, and what each kind of thrown error does. Fake store and clock, scripted handlers.
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { LOCK_RENEWAL_FAILED, LockLostError } from '../../workers/step-processor.js';
import { type StepContext, StepFailure } from '../../workers/steps/contract.js';
import { plannedReason } from '../support/step-handlers.js';
import { createWorld, jobIdOf } from './fakes/step-world.js';

describe('the context of a run', () => {
  it('carries a copy of the started record, the step, the attempt, the node and a bound logger', async () => {
    const world = createWorld();
    const seen: StepContext[] = [];
    world.hooks.run = (ctx) => {
      seen.push(ctx);
      if (seen.length === 1) throw new Error('connection reset');
      ctx.log.info({ event: 'handler-says' });
      // A handler that writes into its copy (casting the types away) changes nothing stored.
      (ctx.order as { region: string | null }).region = 'scribbled';
    };
    await expect(world.node('node-a')('scheduling')).rejects.toThrow('connection reset');
    await world.node('node-b')('scheduling');

    expect(seen.map((c) => [c.step, c.nodeId, c.attempt])).toEqual([
      ['scheduling', 'node-a', 1],
      ['scheduling', 'node-b', 2],
    ]);
    expect(seen[1]!.order.steps[0]).toMatchObject({ status: 'running', node_id: 'node-b' });
    expect(world.order().region).toBeNull();
    expect(world.order().steps[0]!.status).toBe('completed');
    const said = world.logs.find((l) => l.event === 'handler-says')!;
    expect(said).toMatchObject({ order_id: world.order().order_id, step: 'scheduling', node_id: 'node-b' });
  });

  it('names the undone step and counts the runs of each undo', async () => {
    const world = createWorld({ failAt: 'processing' });
    let undos = 0;
    world.hooks.compensate = (ctx) => {
      if (++undos === 1) throw new Error('connection reset');
      ctx.log.info({ event: 'undoing' });
    };
    const nodeA = world.node('node-a');
    await world.runChain(nodeA);
    await expect(nodeA('processing')).rejects.toThrow(plannedReason('processing'));
    const undoCalls = world.calls.filter((c) => c.kind === 'compensate');
    expect(undoCalls.map((c) => [c.step, c.attempt])).toEqual([
      ['pre-processing', 1],
      ['pre-processing', 2],
      ['scheduling', 1],
    ]);
    expect(world.logs.filter((l) => l.event === 'undoing').map((l) => l.compensated_step)).toEqual([
      'pre-processing',
      'scheduling',
    ]);
  });
});

describe('the abort signal of a run', () => {
  it('comes from BullMQ too: the processor declares the third parameter BullMQ looks for', () => {
    // BullMQ creates a job's AbortController only for a processor of three parameters or more.
    expect(createWorld().node('node-a').process.length).toBe(3);
  });

  it('aborts when BullMQ could not renew the lock: the run ends as a lost lock, writing nothing more', async () => {
    const world = createWorld();
    const bullmq = new AbortController();
    let signal: AbortSignal | undefined;
    world.hooks.run = async (ctx) => {
      signal = ctx.signal;
      bullmq.abort(LOCK_RENEWAL_FAILED); // what the node does on the Worker's lockRenewalFailed
      ctx.signal.throwIfAborted();
    };
    const error = await world
      .node('node-a')('scheduling', {}, bullmq.signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
    expect(signal!.reason).toBe(error);
    expect(world.store.writes).toHaveLength(1); // the start; no completion, no `error` attempt
    expect(world.order().steps[0]!.attempts.map((a) => a.outcome)).toEqual(['running']);
    expect(world.logs.find((l) => l.event === 'lock-lost')).toMatchObject({ outcome: 'renewal-failed' });
  });

  it('aborts when a write of the run is refused', async () => {
    const world = createWorld();
    let signal: AbortSignal | undefined;
    world.hooks.run = (ctx) => {
      signal = ctx.signal;
      world.store.lock(jobIdOf('scheduling'), 'another-run');
    };
    await expect(world.node('node-a')('scheduling')).rejects.toBeInstanceOf(LockLostError);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(LockLostError);
  });

  it('passes on a cancellation through BullMQ, whose run is retried', async () => {
    const world = createWorld();
    const bullmq = new AbortController();
    world.hooks.run = (ctx) => {
      bullmq.abort('cancelled by an operator');
      ctx.signal.throwIfAborted();
    };
    await expect(world.node('node-a')('scheduling', {}, bullmq.signal)).rejects.toThrow(
      'handler threw cancelled by an operator',
    );
    expect(world.order().steps[0]!.attempts.map((a) => a.outcome)).toEqual(['error']);
  });
});

describe('what a handler throws', () => {
  it('fails the step for good when the error says it is not retryable, whatever its class', async () => {
    const world = createWorld();
    class Declined extends Error {
      readonly nonRetryable = true;
    }
    world.hooks.run = () => {
      throw new Declined('card declined');
    };
    const error = await world.runChain(world.node('node-a'));
    expect(error).toEqual(new UnrecoverableError('card declined'));
    expect(world.order().failure).toEqual({ step: 'scheduling', reason: 'card declined' });
  });

  it("retries BullMQ's UnrecoverableError thrown by a handler: only the engine settles a job", async () => {
    const world = createWorld();
    world.hooks.run = () => {
      throw new UnrecoverableError('gave up');
    };
    const error = (await world
      .node('node-a')('scheduling')
      .catch((e: unknown) => e)) as Error;
    expect(error).not.toBeInstanceOf(UnrecoverableError);
    expect(error.message).toBe('handler threw UnrecoverableError: gave up');
    expect(world.order()).toMatchObject({ status: 'in_progress', failure: null });
    expect(world.order().steps[0]!.attempts.map((a) => a.outcome)).toEqual(['error']);
  });

  it('gives the rollback up when an undo is refused for good, naming what is left in effect', async () => {
    const world = createWorld({ failAt: 'post-processing' });
    world.hooks.compensate = (ctx) => {
      if (ctx.step === 'pre-processing') throw new StepFailure('refund window closed');
    };
    const error = await world.runChain(world.node('node-a'));
    const reason = 'undo of pre-processing refused: refund window closed';
    expect(error).toEqual(
      new UnrecoverableError(
        `${plannedReason('post-processing')}; ${reason}: pre-processing, scheduling not compensated`,
      ),
    );
    const order = world.order();
    expect(order.status).toBe('failed');
    expect(order.rollback_failure).toEqual({
      step: 'pre-processing',
      reason,
      not_compensated: ['pre-processing', 'scheduling'],
    });
    expect(order.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'compensated', 'failed']);
    expect(world.calls.filter((c) => c.kind === 'compensate').map((c) => c.step)).toEqual([
      'processing',
      'pre-processing',
    ]);
  });
});
