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

/** Asserts the history is clean: terminal, one commit per step, committed executions never overlap. */
export function expectCleanHistory(order: OrderRecord): Execution[] {
  expect(['completed', 'failed']).toContain(order.status);
  for (const step of order.steps) {
    const commits = step.attempts.filter((a) => a.outcome === 'completed' || a.outcome === 'failed');
    expect(commits.length, `${order.order_id} ${step.name} commits`).toBeLessThanOrEqual(1);
    expect(
      step.attempts.filter((a) => a.outcome === 'running'),
      `${step.name} still running`,
    ).toEqual([]);
  }
  const undone = order.rollback.map((r) => r.step);
  expect(new Set(undone).size, `${order.order_id} compensated twice`).toBe(undone.length);
  const executions = committedExecutions(order);
  for (const [i, execution] of executions.entries()) {
    expect(Number.isFinite(execution.end), `${execution.what} unfinished`).toBe(true);
    const previous = executions[i - 1];
    if (previous)
      expect(execution.start, `${execution.what} overlaps ${previous.what}`).toBeGreaterThanOrEqual(
        previous.end,
      );
  }
  return executions;
}
