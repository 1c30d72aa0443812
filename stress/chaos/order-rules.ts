// The checker's rules for one order record: terminal, one commit per step, saga shape, no overlap.
import { COMMITTED, type OrderJson, STEP_ORDER, TERMINAL } from './order-json.js';

/** A broken rule of one record: `kind` names the rule, `detail` says what the record shows. */
export interface RecordFinding {
  kind: 'stuck' | 'overlap' | 'double-commit' | 'saga';
  detail: string;
}

/** A committed execution: a step run that committed its outcome, or a compensation. */
interface Execution {
  what: string;
  node: string;
  start: number;
  end: number;
}

const time = (iso: string | null) => (iso === null ? Number.NaN : Date.parse(iso));

function executions(order: OrderJson): Execution[] {
  const runs = order.steps.flatMap((step) =>
    step.attempts
      .filter((a) => COMMITTED.has(a.outcome))
      .map((a) => ({
        what: `${step.name} (${a.outcome})`,
        node: a.node_id,
        start: time(a.started_at),
        end: time(a.ended_at),
      })),
  );
  // An undo that never completed committed nothing (the shape rules report it as unfinished).
  const undos = order.rollback
    .filter((r) => r.completed_at !== null)
    .map((r) => ({
      what: `undo ${r.step}`,
      node: r.node_id,
      start: time(r.started_at),
      end: time(r.completed_at),
    }));
  return [...runs, ...undos].sort((a, b) => a.start - b.start);
}

/** No two committed executions overlap in time, and each has both ends. */
function overlapFindings(order: OrderJson): RecordFinding[] {
  const found: RecordFinding[] = [];
  // Sorted by start, each execution is compared with the one that ends last among those before it.
  let latest: Execution | undefined;
  for (const e of executions(order)) {
    if (!Number.isFinite(e.start) || !Number.isFinite(e.end)) {
      found.push({ kind: 'saga', detail: `${e.what} on ${e.node} committed without both times` });
      continue;
    }
    if (latest && e.start < latest.end)
      found.push({
        kind: 'overlap',
        detail: `${e.what} on ${e.node} started ${latest.end - e.start} ms before ${latest.what} on ${latest.node} ended`,
      });
    if (!latest || e.end > latest.end) latest = e;
  }
  return found;
}

const commitsOf = (order: OrderJson, i: number) =>
  order.steps[i]!.attempts.filter((a) => COMMITTED.has(a.outcome)).map((a) => a.outcome);

/** The shape a terminal status demands of steps, commits and rollback. */
function shapeFindings(order: OrderJson): string[] {
  const wrong: string[] = [];
  const names = order.steps.map((s) => s.name);
  if (names.join() !== STEP_ORDER.join()) wrong.push(`steps are [${names.join(', ')}]`);
  const rollback = order.rollback.map((r) => r.step);
  for (const r of order.rollback) if (r.completed_at === null) wrong.push(`undo ${r.step} never completed`);
  for (const step of order.steps)
    if (step.attempts.some((a) => a.outcome === 'running'))
      wrong.push(`${step.name} still has a running attempt`);
  if (order.status === 'completed') {
    if (order.failure !== null) wrong.push(`completed with failure ${JSON.stringify(order.failure)}`);
    if (rollback.length > 0) wrong.push(`completed but undid [${rollback.join(', ')}]`);
    for (const [i, step] of order.steps.entries())
      if (step.status !== 'completed' || commitsOf(order, i).join() !== 'completed')
        wrong.push(`${step.name}: status ${step.status}, commits [${commitsOf(order, i).join(', ')}]`);
    return wrong;
  }
  if (order.status === 'failed') {
    const failedAt = names.indexOf(order.failure?.step ?? '');
    if (failedAt < 0) return [...wrong, `failed naming no step (failure ${JSON.stringify(order.failure)})`];
    const before = names.slice(0, failedAt);
    for (const [i, step] of order.steps.entries()) {
      const commits = commitsOf(order, i).join();
      if (i < failedAt && (step.status !== 'compensated' || commits !== 'completed'))
        wrong.push(`${step.name} before the failed step: status ${step.status}, commits [${commits}]`);
      if (i === failedAt && (step.status !== 'failed' || !['', 'failed'].includes(commits)))
        wrong.push(`${step.name} (the failed step): status ${step.status}, commits [${commits}]`);
      if (i > failedAt && (step.status !== 'pending' || step.attempts.length > 0))
        wrong.push(
          `${step.name} after the failed step started: status ${step.status}, ${step.attempts.length} attempts`,
        );
    }
    const expected = [...before].reverse();
    if (rollback.join() !== expected.join())
      wrong.push(
        `rollback [${rollback.join(', ')}], expected each completed step once in reverse: [${expected.join(', ')}]`,
      );
    return wrong;
  }
  // cancelled: whatever committed is undone once each, in reverse; nothing else is asked of it yet.
  const compensated = names.filter((_, i) => order.steps[i]!.status === 'compensated');
  if (rollback.join() !== [...compensated].reverse().join())
    wrong.push(`rollback [${rollback.join(', ')}] is not the compensated steps in reverse`);
  return wrong;
}

/** Every rule `order` breaks; [] for a clean terminal record. */
export function checkRecord(order: OrderJson): RecordFinding[] {
  const found = overlapFindings(order);
  for (const [i, step] of order.steps.entries()) {
    const commits = commitsOf(order, i);
    if (commits.length > 1)
      found.push({
        kind: 'double-commit',
        detail: `${step.name} committed ${commits.length} times [${commits.join(', ')}]`,
      });
  }
  if (!TERMINAL.has(order.status)) {
    const running = order.steps.filter((s) => s.status === 'running').map((s) => s.name);
    found.push({
      kind: 'stuck',
      detail: `status ${order.status}, current step ${order.current_step}${running.length ? `, running: ${running.join(', ')}` : ''}`,
    });
    return found;
  }
  for (const detail of shapeFindings(order)) found.push({ kind: 'saga', detail });
  return found;
}
