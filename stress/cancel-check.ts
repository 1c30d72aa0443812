// Checks the records of cancelled orders: what was undone is exactly what had completed, newest first. Pure.
import { type OrderRecord, STEPS } from '../shared/domain/order.js';

/** How many orders ended cancelled, and one line per record that breaks the rule. */
export function checkCancelled(orders: OrderRecord[]): { cancelled: number; violations: string[] } {
  const cancelled = orders.filter((o) => o.status === 'cancelled');
  const violations: string[] = [];
  for (const order of cancelled) {
    const compensated = order.steps.filter((s) => s.status === 'compensated').map((s) => s.name);
    const undone = order.rollback.map((r) => r.step);
    const reverse = [...compensated].sort((a, b) => STEPS.indexOf(b) - STEPS.indexOf(a));
    const why = order.steps.some((s) => s.status === 'completed' || s.status === 'running')
      ? 'a step still completed or running'
      : undone.join() !== reverse.join()
        ? `undone ${undone.join(',') || 'nothing'}, compensated ${compensated.join(',') || 'nothing'}`
        : order.rollback.some((r) => r.completed_at === null)
          ? 'an undo never ended'
          : !order.cancellation
            ? 'no cancellation in the record'
            : null;
    if (why) violations.push(`${order.order_id}: ${why}`);
  }
  return { cancelled: cancelled.length, violations };
}
