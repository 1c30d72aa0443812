// Checks of an order's history that must hold whatever crashed: one committed run per step, and no
// two committed executions (step runs, compensations) overlapping in time.
import { expect } from 'vitest';
import type { OrderRecord } from '../../shared/domain/order.js';

export interface Execution {
  what: string;
  node_id: string;
  start: number;
  end: number;
}

/** The committed executions of an order, in time order: finished attempts and finished compensations. */
export function committedExecutions(order: OrderRecord): Execution[] {
  const runs = order.steps.flatMap((step) =>
    step.attempts
      .filter((a) => a.outcome === 'completed' || a.outcome === 'failed')
      .map((a) => ({
        what: step.name,
        node_id: a.node_id,
        start: Date.parse(a.started_at),
        end: Date.parse(a.ended_at!),
      })),
  );
  const undos = order.rollback.map((r) => ({
    what: `undo ${r.step}`,
    node_id: r.node_id,
    start: Date.parse(r.started_at),
    end: Date.parse(r.completed_at ?? 'missing'),
  }));
  return [...runs, ...undos].sort((a, b) => a.start - b.start);
}

/**
 * Asserts the history is clean: terminal, one commit per step that ran, a shape that matches the
 * outcome (a completed order committed every step and undid none; a failed one committed and undid
 * exactly the steps before the failed one, in reverse, and never started the later ones), and
 * committed executions that never overlap.
 */
export function expectCleanHistory(order: OrderRecord): Execution[] {
  const id = order.order_id;
  expect(['completed', 'failed'], `${id} status`).toContain(order.status);
  for (const step of order.steps) {
    const commits = step.attempts.filter((a) => a.outcome === 'completed' || a.outcome === 'failed');
    expect(commits.length, `${id} ${step.name} commits`).toBeLessThanOrEqual(1);
    expect(
      step.attempts.filter((a) => a.outcome === 'running'),
      `${id} ${step.name} still running`,
    ).toEqual([]);
  }
  const outcomeOf = (i: number) =>
    order.steps[i]!.attempts.filter((a) => a.outcome === 'completed' || a.outcome === 'failed').map(
      (a) => a.outcome,
    );
  if (order.status === 'completed') {
    expect(order.failure, `${id} failure`).toBeNull();
    expect(order.rollback, `${id} rollback`).toEqual([]);
    for (const [i, step] of order.steps.entries()) {
      expect(step.status, `${id} ${step.name} status`).toBe('completed');
      expect(outcomeOf(i), `${id} ${step.name} commits`).toEqual(['completed']);
    }
  } else {
    const failedAt = order.steps.findIndex((s) => s.name === order.failure?.step);
    expect(failedAt, `${id} names the step that failed`).toBeGreaterThanOrEqual(0);
    const before = order.steps.slice(0, failedAt);
    expect(order.steps.map((s) => s.status)).toEqual([
      ...before.map(() => 'compensated'),
      'failed',
      ...order.steps.slice(failedAt + 1).map(() => 'pending'),
    ]);
    for (const [i, step] of before.entries())
      expect(outcomeOf(i), `${id} ${step.name} commits`).toEqual(['completed']);
    // The failed step committed its failure, or never committed at all (its runs were all lost).
    expect(['failed', undefined], `${id} ${order.failure?.step} commit`).toContain(outcomeOf(failedAt)[0]);
    for (const step of order.steps.slice(failedAt + 1))
      expect(step.attempts, `${id} ${step.name} attempts`).toEqual([]);
    expect(
      order.rollback.map((r) => r.step),
      `${id} rollback`,
    ).toEqual(before.map((s) => s.name).reverse());
  }
  const executions = committedExecutions(order);
  for (const [i, execution] of executions.entries()) {
    expect(Number.isFinite(execution.end), `${id} ${execution.what} unfinished`).toBe(true);
    const previous = executions[i - 1];
    if (previous)
      expect(execution.start, `${id} ${execution.what} overlaps ${previous.what}`).toBeGreaterThanOrEqual(
        previous.end,
      );
  }
  return executions;
}
