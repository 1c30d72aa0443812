// Step handlers for tests: each test plugs in the work it needs, instead of the system reading
// directives out of user ids. Pure (no store): the unit tests use these too.
import { createFailurePolicy } from '../../shared/domain/failure-policy.js';
import { STEPS, type StepName } from '../../shared/domain/order.js';
import {
  everyStep,
  type StepContext,
  type StepHandler,
  type StepHandlers,
} from '../../workers/steps/contract.js';
import { createSimulatedHandlers } from '../../workers/steps/simulated.js';

export { failingAt, plannedReason } from '../../workers/steps/test-failures.js';

/** What a test does inside each run of a step and each undo: nothing unless it says. */
export interface Script {
  run?(ctx: StepContext): Promise<void> | void;
  compensate?(ctx: StepContext): Promise<void> | void;
}

/** One call of a scripted handler, in the order they were made. */
export interface Call {
  kind: 'run' | 'compensate';
  step: StepName;
  nodeId: string;
  attempt: number;
}

/**
 * Handlers that do no work of their own: every call is recorded in `calls`, then `script` runs
 * (to fail the step, take its lock away, break the store meanwhile...).
 */
export function scriptedHandlers(script: Script = {}): StepHandlers & { calls: Call[] } {
  const calls: Call[] = [];
  const handler: StepHandler = {
    async run(ctx) {
      calls.push({ kind: 'run', step: ctx.step, nodeId: ctx.nodeId, attempt: ctx.attempt });
      await script.run?.(ctx);
    },
    async compensate(ctx) {
      calls.push({ kind: 'compensate', step: ctx.step, nodeId: ctx.nodeId, attempt: ctx.attempt });
      await script.compensate?.(ctx);
    },
  };
  return Object.assign({ ...everyStep(handler) }, { calls });
}

/** The simulated timing without any failure: what `createTestSystem` nodes run unless told otherwise. */
export function timedHandlers(stepMs: number, compensationMs: number): StepHandlers {
  return createSimulatedHandlers({ stepMs, compensationMs, failureOf: createFailurePolicy({ rate: 0 }) });
}

/**
 * The step at which the seeded draw of `workers/steps/simulated.ts` fails an order, or null when it
 * completes (the chain stops at the first failed step): with a seed, a function of the order id.
 */
export function seededFailure(seed: string, rate: number): (orderId: string) => StepName | null {
  const failureOf = createFailurePolicy({ rate, seed });
  return (orderId) => STEPS.find((step) => failureOf({ order_id: orderId }, step) !== null) ?? null;
}
