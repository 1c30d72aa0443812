// The spans of a step: one per run, in the trace its job carries (the placement's), on whichever node
// runs it; a run whose node died never ended its span, so the run that takes over shows it from the record.
import { type Attributes, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { type Job, UnrecoverableError } from 'bullmq';
import type { Attempt } from '../shared/domain/order.js';
import type { StepJobData } from '../shared/order-flow.js';
import { inSpan, traceContextOf } from '../shared/tracing.js';
import { LockLostError } from './run-writer.js';

/** Why a run ended by throwing: the step failed for good, the run lost its lock, or it is retried. */
const outcomeOf = (error: unknown) =>
  error instanceof UnrecoverableError ? 'failed' : error instanceof LockLostError ? 'lock-lost' : 'error';

function stepAttributes(job: Job<StepJobData>, nodeId: string, attempt: number): Attributes {
  return {
    'orderflow.order_id': job.data.order_id,
    'orderflow.shard': job.data.shard,
    'orderflow.step': job.data.step,
    'orderflow.attempt': attempt,
    'orderflow.node_id': nodeId,
    // Messaging semantic conventions (still incubating, so spelt out rather than imported).
    'messaging.system': 'bullmq',
    'messaging.operation.type': 'process',
    'messaging.destination.name': job.queueName,
    'messaging.message.id': job.id,
  };
}

/**
 * Runs `run`, one run of `job` on `nodeId`, inside a span named `step <step>`, child of the trace
 * context the job carries. `orderflow.attempt` is BullMQ's count of the job's starts, as in the logs.
 */
export function traceStepRun<T extends { outcome: string }>(
  tracer: Tracer,
  job: Job<StepJobData>,
  nodeId: string,
  run: () => Promise<T>,
): Promise<T> {
  const options = {
    kind: SpanKind.CONSUMER,
    attributes: stepAttributes(job, nodeId, job.attemptsStarted),
    parent: traceContextOf(job.data),
  };
  return inSpan(tracer, `step ${job.data.step}`, options, run, {
    done: (result) => ({ 'orderflow.outcome': result.outcome }),
    failed: (error) => ({ 'orderflow.outcome': outcomeOf(error) }),
  });
}

/**
 * Spans for the runs of `job` that this run found still `running` in the record and abandoned: their
 * nodes died (or lost the lock) before they could end a span of their own. Each spans from the dead
 * run's start to now, on its node, with `orderflow.attempt` its position in the record's attempts.
 */
export function traceAbandonedRuns(
  tracer: Tracer,
  job: Job<StepJobData>,
  attempts: readonly Attempt[],
): void {
  attempts.forEach((attempt, index) => {
    if (attempt.outcome !== 'running') return;
    const span = tracer.startSpan(
      `step ${job.data.step}`,
      {
        kind: SpanKind.CONSUMER,
        startTime: new Date(attempt.started_at),
        attributes: {
          ...stepAttributes(job, attempt.node_id, index + 1),
          'orderflow.outcome': 'abandoned',
          'orderflow.reconstructed': true,
        },
      },
      traceContextOf(job.data),
    );
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'its node died or lost the lock; taken over' });
    span.end();
  });
}
