// What changed between two versions of an order record, as the events a watcher sees. Pure: the
// fenced write scripts append these to the order's stream in the same script that commits the change.
import type { OrderRecord, OrderStatus, StepName } from './order.js';

export const ORDER_EVENT_TYPES = [
  'step-started',
  'step-completed',
  'step-failed',
  'step-cancelled',
  'compensation-started',
  'compensation-completed',
  'cancel-requested',
  'order-completed',
  'order-failed',
  'order-cancelled',
] as const;
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];

/** One event of an order, as stored in its stream and sent as an SSE `data` line. */
export interface OrderEvent {
  type: OrderEventType;
  order_id: string;
  /** When it happened, from the record's times (ISO 8601 UTC). */
  at: string;
  step?: StepName;
  node_id?: string | null;
  /** The record's status after the change. */
  status: OrderStatus;
  reason?: string | null;
  requested_by?: string | null;
}

/** The terminal events: a stream closes after one of them. */
export const isTerminalEvent = (type: string) =>
  type === 'order-completed' || type === 'order-failed' || type === 'order-cancelled';

/** The events that take `prev` to `next`, in the order they happened. */
export function eventsBetween(prev: OrderRecord, next: OrderRecord): OrderEvent[] {
  const events: OrderEvent[] = [];
  const base = { order_id: next.order_id, status: next.status };
  for (const [i, step] of next.steps.entries()) {
    const before = prev.steps[i];
    const run = step.attempts.at(-1);
    for (const started of step.attempts.slice(before?.attempts.length ?? 0)) {
      const { started_at: at, node_id } = started;
      events.push({ ...base, type: 'step-started', at, step: step.name, node_id });
    }
    if (step.status === before?.status) continue;
    const at = step.completed_at ?? run?.ended_at ?? next.completed_at ?? '';
    const node_id = step.node_id;
    if (step.status === 'completed')
      events.push({ ...base, type: 'step-completed', at, step: step.name, node_id });
    if (step.status === 'cancelled')
      events.push({ ...base, type: 'step-cancelled', at, step: step.name, node_id });
    if (step.status === 'failed') {
      const reason = next.failure?.reason ?? null;
      events.push({ ...base, type: 'step-failed', at, step: step.name, node_id, reason });
    }
  }
  for (const [i, entry] of next.rollback.entries()) {
    const before = prev.rollback[i];
    const runs = entry.attempts?.length ?? 1;
    if (!before || (before.completed_at === null && runs > (before.attempts?.length ?? 1))) {
      events.push({
        ...base,
        type: 'compensation-started',
        at: entry.started_at,
        step: entry.step,
        node_id: entry.node_id,
      });
    }
    if (entry.completed_at !== null && before?.completed_at == null) {
      const at = entry.completed_at;
      events.push({ ...base, type: 'compensation-completed', at, step: entry.step, node_id: entry.node_id });
    }
  }
  if (
    next.status !== prev.status &&
    (next.status === 'completed' || next.status === 'failed' || next.status === 'cancelled')
  ) {
    const at = next.completed_at ?? '';
    const reason =
      next.status === 'failed' ? (next.rollback_failure?.reason ?? next.failure?.reason ?? null) : null;
    events.push({ ...base, type: `order-${next.status}`, at, reason });
  }
  return events;
}

/** The event of a cancel request, appended when the request is stored. */
export function cancelRequestedEvent(
  order: OrderRecord,
  request: { requested_at: string; reason: string | null; requested_by: string | null },
): OrderEvent {
  const { requested_at: at, reason, requested_by } = request;
  return {
    type: 'cancel-requested',
    order_id: order.order_id,
    at,
    status: order.status,
    reason,
    requested_by,
  };
}
