// The order state machine (shared/domain/transitions.ts over the record of shared/domain/order.ts).
import { describe, expect, it } from 'vitest';
import { cloneOrder, newOrder, type OrderRecord, STEPS, type StepName } from '../../shared/domain/order.js';
import * as transitions from '../../shared/domain/transitions.js';
import { TransitionError } from '../../shared/domain/transitions.js';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const ORDER_ID = '3-01JHMXBCG05HV25QB0YED8HWWM';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Wraps a transition so that its input record is deep-frozen: any mutation of it throws. */
function onFrozen<A extends unknown[], R>(fn: (order: OrderRecord, ...args: A) => R) {
  return (order: OrderRecord, ...args: A): R => fn(deepFreeze(order), ...args);
}

const planStep = onFrozen(transitions.planStep);
const startStep = onFrozen(transitions.startStep);
const completeStep = onFrozen(transitions.completeStep);
const erroredStep = onFrozen(transitions.erroredStep);
const failStep = onFrozen(transitions.failStep);
const pendingCompensations = onFrozen(transitions.pendingCompensations);
const startCompensation = onFrozen(transitions.startCompensation);
const completeCompensation = onFrozen(transitions.completeCompensation);
const finishRollback = onFrozen(transitions.finishRollback);
const erroredRun = onFrozen(transitions.erroredRun);
const lostRollbackRuns = onFrozen(transitions.lostRollbackRuns);
const abandonRollback = onFrozen(transitions.abandonRollback);

const placed = () => newOrder(ORDER_ID, 3, { user_id: 'user-1', items: [{ sku: 'A', qty: 2 }] }, at(0));
const stepOf = (order: OrderRecord, name: StepName) => order.steps.find((s) => s.name === name)!;

/** Runs the first `count` steps to completion, step k starting at 10k s and ending at 10k + 5 s on node-a. */
function completedThrough(count: number): OrderRecord {
  let order = placed();
  for (const [k, name] of STEPS.slice(0, count).entries()) {
    order = startStep(order, name, 'node-a', at(10 * k + 10));
    order = completeStep(order, name, 'node-a', at(10 * k + 15));
  }
  return order;
}

/** The order with `failing` started on node-a at 100 s and failed at 101 s, every earlier step completed. */
function failedAt(failing: StepName): OrderRecord {
  const order = startStep(completedThrough(STEPS.indexOf(failing)), failing, 'node-a', at(100));
  return failStep(order, failing, 'node-a', at(101), `${failing} failed (simulated)`);
}

describe('when an order is placed', () => {
  const order = placed();

  it('is accepted, waiting at the first step, with every step pending', () => {
    expect(order).toMatchObject({
      order_id: ORDER_ID,
      user_id: 'user-1',
      shard: 3,
      status: 'accepted',
      current_step: 'scheduling',
      created_at: iso(0),
      started_at: null,
      completed_at: null,
      items: [{ sku: 'A', qty: 2 }],
      customer_name: null,
      region: null,
      failure: null,
      rollback: [],
    });
    expect(order.steps.map((s) => s.name)).toEqual([...STEPS]);
    for (const step of order.steps) {
      expect(step).toEqual({
        name: step.name,
        status: 'pending',
        started_at: null,
        completed_at: null,
        node_id: null,
        attempts: [],
      });
    }
  });

  it('lists the four steps in their fixed order', () => {
    expect(STEPS).toEqual(['scheduling', 'pre-processing', 'processing', 'post-processing']);
  });
});

describe('when all four steps succeed', () => {
  const seen: Array<Pick<OrderRecord, 'status' | 'current_step'>> = [];
  let order = placed();
  for (const [k, name] of STEPS.entries()) {
    order = startStep(order, name, `node-${k}`, at(10 * k + 10));
    seen.push({ status: order.status, current_step: order.current_step });
    order = completeStep(order, name, `node-${k}`, at(10 * k + 15));
    seen.push({ status: order.status, current_step: order.current_step });
  }

  it('moves from accepted through in_progress to completed, step by step', () => {
    expect(seen).toEqual([
      { status: 'in_progress', current_step: 'scheduling' },
      { status: 'in_progress', current_step: 'pre-processing' },
      { status: 'in_progress', current_step: 'pre-processing' },
      { status: 'in_progress', current_step: 'processing' },
      { status: 'in_progress', current_step: 'processing' },
      { status: 'in_progress', current_step: 'post-processing' },
      { status: 'in_progress', current_step: 'post-processing' },
      { status: 'completed', current_step: 'completed' },
    ]);
  });

  it('records when the order started and completed', () => {
    expect(order.started_at).toBe(iso(10));
    expect(order.completed_at).toBe(iso(45));
  });

  it('records each step with its times, its node and one completed attempt', () => {
    for (const [k, name] of STEPS.entries()) {
      expect(stepOf(order, name)).toEqual({
        name,
        status: 'completed',
        started_at: iso(10 * k + 10),
        completed_at: iso(10 * k + 15),
        node_id: `node-${k}`,
        attempts: [
          {
            node_id: `node-${k}`,
            started_at: iso(10 * k + 10),
            ended_at: iso(10 * k + 15),
            outcome: 'completed',
          },
        ],
      });
    }
    expect(order.failure).toBeNull();
    expect(order.rollback).toEqual([]);
  });

  it('plans every step as done', () => {
    for (const name of STEPS) expect(planStep(order, name)).toEqual({ kind: 'done' });
  });

  it('leaves its input record as it was', () => {
    const before = placed();
    const copy = structuredClone(before);
    transitions.completeStep(
      transitions.startStep(before, 'scheduling', 'n', at(1)),
      'scheduling',
      'n',
      at(2),
    );
    expect(before).toEqual(copy);
  });
});

describe('planStep', () => {
  it('runs the first step of a new order and refuses the others', () => {
    const order = placed();
    expect(planStep(order, 'scheduling')).toEqual({ kind: 'run' });
    expect(planStep(order, 'pre-processing')).toEqual({
      kind: 'refuse',
      reason: 'step scheduling is pending',
    });
    expect(planStep(order, 'post-processing')).toEqual({
      kind: 'refuse',
      reason: 'step scheduling is pending',
    });
  });

  it('runs the next step once the previous ones completed', () => {
    const order = completedThrough(2);
    expect(planStep(order, 'scheduling')).toEqual({ kind: 'done' });
    expect(planStep(order, 'processing')).toEqual({ kind: 'run' });
    expect(planStep(order, 'post-processing')).toEqual({
      kind: 'refuse',
      reason: 'step processing is pending',
    });
  });

  it('runs again a step whose node died while running it, and refuses its successor', () => {
    const order = startStep(placed(), 'scheduling', 'node-a', at(1));
    expect(planStep(order, 'scheduling')).toEqual({ kind: 'run' });
    expect(planStep(order, 'pre-processing')).toEqual({
      kind: 'refuse',
      reason: 'step scheduling is running',
    });
  });

  it('resumes the rollback of a failed step while the order is rolling back', () => {
    const order = failedAt('processing');
    expect(planStep(order, 'processing')).toEqual({ kind: 'resume-rollback' });
    expect(planStep(order, 'pre-processing')).toEqual({ kind: 'done' });
    expect(planStep(order, 'post-processing')).toEqual({ kind: 'refuse', reason: 'order is rolling_back' });
  });

  it('only fails the job of a step that failed and was rolled back', () => {
    let order = failedAt('pre-processing');
    order = startCompensation(order, 'scheduling', 'node-a', at(102));
    order = finishRollback(completeCompensation(order, 'scheduling', at(103)), at(104));
    expect(planStep(order, 'pre-processing')).toEqual({ kind: 'failed' });
    expect(planStep(order, 'scheduling')).toEqual({ kind: 'done' });
    expect(planStep(order, 'processing')).toEqual({ kind: 'refuse', reason: 'order is failed' });
  });
});

describe('when a step is run again after its node died', () => {
  const first = startStep(placed(), 'scheduling', 'node-a', at(1));
  const resumed = startStep(first, 'scheduling', 'node-b', at(20));

  it('marks the earlier running attempt abandoned and keeps it in the history', () => {
    expect(stepOf(resumed, 'scheduling').attempts).toEqual([
      { node_id: 'node-a', started_at: iso(1), ended_at: null, outcome: 'abandoned' },
      { node_id: 'node-b', started_at: iso(20), ended_at: null, outcome: 'running' },
    ]);
  });

  it('gives the step to the new node but keeps the order start time', () => {
    expect(stepOf(resumed, 'scheduling')).toMatchObject({
      status: 'running',
      node_id: 'node-b',
      started_at: iso(20),
    });
    expect(resumed.started_at).toBe(iso(1));
  });

  it('refuses a completion from the node that lost the step', () => {
    expect(() => completeStep(resumed, 'scheduling', 'node-a', at(21))).toThrow(TransitionError);
  });

  it('completes on the new node with both attempts in the history', () => {
    const done = completeStep(resumed, 'scheduling', 'node-b', at(25));
    expect(stepOf(done, 'scheduling').attempts.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-a', 'abandoned'],
      ['node-b', 'completed'],
    ]);
  });
});

describe('when a running attempt hits an infrastructure error', () => {
  const errored = erroredStep(
    startStep(placed(), 'scheduling', 'node-a', at(1)),
    'scheduling',
    'node-a',
    at(2),
  );

  it('ends the attempt as an error and leaves the step to be retried', () => {
    expect(stepOf(errored, 'scheduling').attempts).toEqual([
      { node_id: 'node-a', started_at: iso(1), ended_at: iso(2), outcome: 'error' },
    ]);
    expect(stepOf(errored, 'scheduling').status).toBe('running');
    expect(planStep(errored, 'scheduling')).toEqual({ kind: 'run' });
  });

  it('adds a new attempt on retry without abandoning the errored one', () => {
    const retried = startStep(errored, 'scheduling', 'node-a', at(3));
    expect(stepOf(retried, 'scheduling').attempts.map((a) => a.outcome)).toEqual(['error', 'running']);
  });

  it('refuses an error report from a node that runs no attempt', () => {
    const running = startStep(placed(), 'scheduling', 'node-a', at(1));
    expect(() => erroredStep(running, 'scheduling', 'node-b', at(2))).toThrow(TransitionError);
    expect(() => erroredStep(errored, 'scheduling', 'node-a', at(3))).toThrow(TransitionError);
  });
});

describe.each(STEPS.map((name, index) => ({ name, index })))(
  'when $name fails after $index completed',
  ({ name, index }) => {
    const completed = STEPS.slice(0, index);
    const failed = failedAt(name);

    it('starts rolling back and records the failure', () => {
      expect(failed).toMatchObject({ status: 'rolling_back', current_step: name, completed_at: null });
      expect(failed.failure).toEqual({ step: name, reason: `${name} failed (simulated)` });
      expect(stepOf(failed, name)).toMatchObject({
        status: 'failed',
        completed_at: iso(101),
        node_id: 'node-a',
      });
      expect(stepOf(failed, name).attempts).toEqual([
        { node_id: 'node-a', started_at: iso(100), ended_at: iso(101), outcome: 'failed' },
      ]);
    });

    it('lists exactly the completed steps to compensate, in reverse order', () => {
      expect(pendingCompensations(failed)).toEqual([...completed].reverse());
    });

    describe('and the rollback runs to the end', () => {
      let order = failed;
      const pendingAfterEach: StepName[][] = [];
      for (const [k, undo] of pendingCompensations(failed).entries()) {
        order = startCompensation(order, undo, 'node-c', at(200 + 10 * k));
        order = completeCompensation(order, undo, at(205 + 10 * k));
        pendingAfterEach.push(pendingCompensations(order));
      }
      const finished = finishRollback(order, at(300));

      it('compensates them in reverse order, each with its node and times', () => {
        expect(finished.rollback).toEqual(
          [...completed].reverse().map((step, k) => ({
            step,
            started_at: iso(200 + 10 * k),
            completed_at: iso(205 + 10 * k),
            node_id: 'node-c',
            attempts: [
              {
                node_id: 'node-c',
                started_at: iso(200 + 10 * k),
                ended_at: iso(205 + 10 * k),
                outcome: 'completed',
              },
            ],
          })),
        );
        expect(pendingAfterEach).toEqual(
          pendingAfterEach.map((_, k) => [...completed].reverse().slice(k + 1)),
        );
      });

      it('ends failed, with compensated, failed and still-pending steps', () => {
        expect(finished).toMatchObject({ status: 'failed', current_step: 'failed', completed_at: iso(300) });
        expect(finished.steps.map((s) => s.status)).toEqual(
          STEPS.map((_, k) => (k < index ? 'compensated' : k === index ? 'failed' : 'pending')),
        );
        for (const later of STEPS.slice(index + 1)) expect(stepOf(finished, later).attempts).toEqual([]);
      });

      it('refuses to run any later step', () => {
        for (const later of STEPS.slice(index + 1)) {
          expect(planStep(finished, later)).toEqual({ kind: 'refuse', reason: 'order is failed' });
          expect(() => startStep(finished, later, 'node-c', at(301))).toThrow(TransitionError);
        }
      });
    });
  },
);

describe('when a compensation is resumed after its node died', () => {
  let order = startCompensation(failedAt('post-processing'), 'processing', 'node-a', at(200));
  order = startCompensation(order, 'processing', 'node-b', at(230));

  const deadRun = { node_id: 'node-a', started_at: iso(200), ended_at: null, outcome: 'abandoned' };

  it("replaces the unfinished entry instead of adding a second one, keeping the dead node's run", () => {
    expect(order.rollback).toEqual([
      {
        step: 'processing',
        started_at: iso(230),
        completed_at: null,
        node_id: 'node-b',
        attempts: [deadRun, { node_id: 'node-b', started_at: iso(230), ended_at: null, outcome: 'running' }],
      },
    ]);
    expect(lostRollbackRuns(order)).toBe(2); // node-a's, and node-b's if a run resumes now
  });

  it('completes the replaced entry and moves on to the next step', () => {
    const done = completeCompensation(order, 'processing', at(231));
    expect(done.rollback).toEqual([
      {
        step: 'processing',
        started_at: iso(230),
        completed_at: iso(231),
        node_id: 'node-b',
        attempts: [
          deadRun,
          { node_id: 'node-b', started_at: iso(230), ended_at: iso(231), outcome: 'completed' },
        ],
      },
    ]);
    expect(pendingCompensations(done)).toEqual(['pre-processing', 'scheduling']);
    expect(lostRollbackRuns(done)).toBe(1);
  });

  it('resumes an entry written before undo runs were recorded, as one without them', () => {
    const { attempts: _, ...legacy } = startCompensation(
      failedAt('post-processing'),
      'processing',
      'n',
      at(200),
    ).rollback[0]!;
    const old = { ...failedAt('post-processing'), rollback: [legacy] };
    expect(lostRollbackRuns(old)).toBe(0);
    const resumed = startCompensation(old, 'processing', 'node-b', at(230));
    expect(resumed.rollback[0]!.attempts!.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-b', 'running'],
    ]);
  });

  it('is what the failed step plans while the order rolls back', () => {
    expect(planStep(order, 'post-processing')).toEqual({ kind: 'resume-rollback' });
  });
});

describe('when a transition is not allowed', () => {
  it('refuses to complete a step without a running attempt', () => {
    expect(() => completeStep(placed(), 'scheduling', 'node-a', at(1))).toThrow(TransitionError);
    expect(() => completeStep(completedThrough(1), 'scheduling', 'node-a', at(30))).toThrow(TransitionError);
  });

  it('refuses to start a step whose predecessor is pending, done or failed', () => {
    expect(() => startStep(placed(), 'pre-processing', 'node-a', at(1))).toThrow(TransitionError);
    expect(() => startStep(completedThrough(1), 'scheduling', 'node-a', at(30))).toThrow(TransitionError);
    expect(() => startStep(failedAt('processing'), 'processing', 'node-a', at(102))).toThrow(TransitionError);
  });

  it('refuses to finish a rollback with compensations pending or none begun', () => {
    const failed = failedAt('processing');
    expect(() => finishRollback(failed, at(102))).toThrow(TransitionError);
    const halfway = completeCompensation(
      startCompensation(failed, 'pre-processing', 'n', at(102)),
      'pre-processing',
      at(103),
    );
    expect(() => finishRollback(halfway, at(104))).toThrow(/not finished/);
    expect(() => finishRollback(completedThrough(2), at(40))).toThrow(TransitionError);
  });

  it('refuses to compensate a step that did not complete or an order not rolling back', () => {
    const failed = failedAt('processing');
    expect(() => startCompensation(failed, 'processing', 'n', at(102))).toThrow(TransitionError);
    expect(() => startCompensation(failed, 'post-processing', 'n', at(102))).toThrow(TransitionError);
    expect(() => startCompensation(completedThrough(2), 'scheduling', 'n', at(40))).toThrow(TransitionError);
    const undone = completeCompensation(
      startCompensation(failed, 'pre-processing', 'n', at(102)),
      'pre-processing',
      at(103),
    );
    expect(() => startCompensation(undone, 'pre-processing', 'n', at(104))).toThrow(TransitionError);
  });

  it('refuses to complete a compensation that never started', () => {
    expect(() => completeCompensation(failedAt('processing'), 'scheduling', at(102))).toThrow(
      TransitionError,
    );
  });

  it('throws an Error subclass named TransitionError', () => {
    const error = (() => {
      try {
        completeStep(placed(), 'scheduling', 'node-a', at(1));
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('TransitionError');
  });
});

describe('when a step is failed by the crash limit or out of turn', () => {
  it('fails a step whose last attempt still runs on a dead node (the MAX_STEP_CRASHES path)', () => {
    // node-a and node-b both died inside scheduling; node-c sees 2 crashed attempts and fails the step.
    const crashedTwice = startStep(
      startStep(placed(), 'scheduling', 'node-a', at(1)),
      'scheduling',
      'node-b',
      at(20),
    );
    const failed = failStep(crashedTwice, 'scheduling', 'node-c', at(40), 'scheduling lost its node 2 times');
    expect(failed.status).toBe('rolling_back');
    expect(stepOf(failed, 'scheduling').attempts.some((a) => a.outcome === 'running')).toBe(false);
    expect(stepOf(failed, 'scheduling').attempts.map((a) => a.outcome)).toEqual(['abandoned', 'abandoned']);
    expect(stepOf(failed, 'scheduling').node_id).toBe('node-c');
  });

  it('refuses to fail a step of a completed order', () => {
    expect(() => failStep(completedThrough(4), 'processing', 'node-a', at(50), 'late')).toThrow(
      TransitionError,
    );
  });
});

describe('when an infrastructure error ends a run (issue 12)', () => {
  const failed = failedAt('post-processing');
  const undoing = startCompensation(failed, 'processing', 'node-a', at(200));

  it("ends the node's running step attempt as error", () => {
    const running = startStep(completedThrough(1), 'pre-processing', 'node-a', at(30));
    const errored = erroredRun(running, 'pre-processing', 'node-a', at(31))!;
    expect(stepOf(errored, 'pre-processing').attempts.map((a) => a.outcome)).toEqual(['error']);
  });

  it("ends the node's run of the open undo as error once the step failed, and counts it as no lost run", () => {
    const errored = erroredRun(undoing, 'post-processing', 'node-a', at(201))!;
    expect(errored.rollback[0]!.attempts).toEqual([
      { node_id: 'node-a', started_at: iso(200), ended_at: iso(201), outcome: 'error' },
    ]);
    expect(errored.rollback[0]!.completed_at).toBeNull();
    expect(stepOf(errored, 'post-processing').attempts.map((a) => a.outcome)).toEqual(['failed']);
    const resumed = startCompensation(errored, 'processing', 'node-b', at(230));
    expect(resumed.rollback[0]!.attempts!.map((a) => a.outcome)).toEqual(['error', 'running']);
    expect(lostRollbackRuns(errored)).toBe(0);
  });

  it('has nothing to end for a node that runs neither the step nor an undo', () => {
    expect(erroredRun(failed, 'post-processing', 'node-a', at(102))).toBeNull();
    expect(erroredRun(undoing, 'post-processing', 'node-b', at(201))).toBeNull();
  });
});

describe('when a rollback is given up after its nodes kept dying (issue 12)', () => {
  let order = startCompensation(failedAt('post-processing'), 'processing', 'node-a', at(200));
  order = completeCompensation(order, 'processing', at(205));
  order = startCompensation(order, 'pre-processing', 'node-a', at(210));
  order = startCompensation(order, 'pre-processing', 'node-b', at(240));
  const reason = 'rollback lost its node 2 times (limit 2)';
  const given = abandonRollback(order, at(270), reason);

  it('ends the order failed, the failure of the step kept as it was', () => {
    expect(given).toMatchObject({ status: 'failed', current_step: 'failed', completed_at: iso(270) });
    expect(given.failure).toEqual({ step: 'post-processing', reason: 'post-processing failed (simulated)' });
  });

  it('names the undo it stopped at, why, and every step left in effect', () => {
    expect(given.rollback_failure).toEqual({
      step: 'pre-processing',
      reason,
      not_compensated: ['pre-processing', 'scheduling'],
    });
    expect(given.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'compensated', 'failed']);
  });

  it('leaves the open undo unfinished, its last run abandoned', () => {
    const open = given.rollback[1]!;
    expect(open).toMatchObject({ step: 'pre-processing', completed_at: null, node_id: 'node-b' });
    expect(open.attempts!.map((a) => [a.node_id, a.outcome])).toEqual([
      ['node-a', 'abandoned'],
      ['node-b', 'abandoned'],
    ]);
  });

  it('names the next undo when it stops between two, and refuses when nothing is left', () => {
    const between = completeCompensation(order, 'pre-processing', at(245));
    expect(abandonRollback(between, at(270), reason).rollback_failure).toEqual({
      step: 'scheduling',
      reason,
      not_compensated: ['scheduling'],
    });
    const undone = completeCompensation(
      startCompensation(between, 'scheduling', 'node-b', at(250)),
      'scheduling',
      at(255),
    );
    expect(() => abandonRollback(undone, at(270), reason)).toThrow(TransitionError);
    expect(() => abandonRollback(given, at(271), reason)).toThrow(TransitionError);
  });

  it('plans a further run of the failed step as only failing its job', () => {
    expect(planStep(given, 'post-processing')).toEqual({ kind: 'failed' });
  });

  it('is copied deeply by cloneOrder, its undo runs and what was left undone included', () => {
    const copy = cloneOrder(given);
    expect(copy).toEqual(given);
    expect(copy.rollback_failure).not.toBe(given.rollback_failure);
    expect(copy.rollback_failure!.not_compensated).not.toBe(given.rollback_failure!.not_compensated);
    expect(copy.rollback[1]!.attempts).not.toBe(given.rollback[1]!.attempts);
    expect(copy.rollback[1]!.attempts![0]).not.toBe(given.rollback[1]!.attempts![0]);
    expect('rollback_failure' in cloneOrder(order)).toBe(false);
  });
});

describe('cloneOrder', () => {
  it('copies a record deeply: equal, and no object shared with the original', () => {
    let order = transitions.startStep(placed(), 'scheduling', 'n', at(1));
    order = { ...order, items: [{ sku: 'A-1', qty: 2 }] };
    order = transitions.failStep(order, 'scheduling', 'n', at(2), 'boom');
    const copy = cloneOrder(order);
    expect(copy).toEqual(order);
    const objects = (value: unknown, into = new Set<unknown>()): Set<unknown> => {
      if (value !== null && typeof value === 'object') {
        into.add(value);
        for (const child of Object.values(value)) objects(child, into);
      }
      return into;
    };
    const originals = objects(order);
    const shared = [...objects(copy)].filter((o) => originals.has(o));
    expect(shared).toEqual([]);
  });
});
