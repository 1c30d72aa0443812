// The default work of every step: a sleep of STEP_MS and a failure draw (STEP_FAILURE_RATE, seeded by
// FAILURE_SEED), and an undo that sleeps COMPENSATION_MS. What orderflow does until real work is plugged in.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../shared/config.js';
import { createFailurePolicy, type FailurePolicy } from '../../shared/domain/failure-policy.js';
import { everyStep, StepFailure, type StepHandler, type StepHandlers } from './contract.js';

export interface SimulatedOptions {
  stepMs: number;
  compensationMs: number;
  failureOf: FailurePolicy;
}

/** The simulated handler, the same for every step. */
export function createSimulatedHandlers({
  stepMs,
  compensationMs,
  failureOf,
}: SimulatedOptions): StepHandlers {
  const handler: StepHandler = {
    async run(ctx) {
      // Ends early, with an AbortError, once the run lost its lock: another run does the step now.
      await sleep(stepMs, undefined, { signal: ctx.signal });
      // Drawn after the work, as a real step learns it failed at its end. With a seed the draw is a
      // function of (seed, order id, step) alone, so a retried or taken-over run draws the same.
      const failure = failureOf(ctx.order, ctx.step);
      if (failure) throw new StepFailure(failure);
    },
    async compensate(ctx) {
      await sleep(compensationMs, undefined, { signal: ctx.signal });
    },
  };
  return everyStep(handler);
}

export type SimulationConfig = Pick<
  Config,
  'STEP_MS' | 'COMPENSATION_MS' | 'STEP_FAILURE_RATE' | 'FAILURE_SEED'
>;

/** The simulated handlers as configured: a worker node's default. */
export function simulatedHandlers(config: SimulationConfig): StepHandlers {
  return createSimulatedHandlers({
    stepMs: config.STEP_MS,
    compensationMs: config.COMPENSATION_MS,
    failureOf: createFailurePolicy({ rate: config.STEP_FAILURE_RATE, seed: config.FAILURE_SEED }),
  });
}
