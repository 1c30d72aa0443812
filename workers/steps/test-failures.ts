// Tests only: business failures planned by a test, for the worker processes it spawns (a SIGKILLed
// node must be the real workers/main.ts). Not configuration: workers/main.ts reads the plan only
// under NODE_ENV=test, and no production setting reaches it.
import { isStepName, STEPS, type StepName } from '../../shared/domain/order.js';
import { type OrderView, StepFailure, type StepHandlers } from './contract.js';
import { type SimulationConfig, simulatedHandlers } from './simulated.js';

/** The environment variable of the plan: JSON `{ "<user_id>": "<step>" }`. */
export const TEST_FAILURES_VAR = 'ORDERFLOW_TEST_FAILURES';

/** The reason a planned failure records. */
export const plannedReason = (step: StepName) => `${step} failed (planned by the test)`;

/**
 * `base`, except that a run of the step `failAt` names for an order fails with a StepFailure after
 * its work, where the simulated draw would: the test decides which orders fail, and where.
 */
export function failingAt(
  failAt: (order: OrderView) => StepName | null | undefined,
  base: StepHandlers,
): StepHandlers {
  const entries = STEPS.map((step) => [
    step,
    {
      async run(ctx) {
        await base[step].run(ctx);
        if (failAt(ctx.order) === step) throw new StepFailure(plannedReason(step));
      },
      compensate: (ctx) => base[step].compensate(ctx),
    } satisfies StepHandlers[StepName],
  ]);
  return Object.fromEntries(entries) as Record<StepName, StepHandlers[StepName]>;
}

/**
 * The simulated handlers of `config` with the plan of `env`, when NODE_ENV is `test` and a plan is
 * set; else undefined (the node's default). A malformed plan throws, so the process does not start.
 */
export function testFailuresFromEnv(
  config: SimulationConfig,
  env: Record<string, string | undefined> = process.env,
): StepHandlers | undefined {
  const text = env[TEST_FAILURES_VAR];
  if (env.NODE_ENV !== 'test' || !text) return undefined;
  const plan = new Map(Object.entries(JSON.parse(text) as Record<string, string>));
  for (const [user, step] of plan) {
    if (!isStepName(step)) throw new Error(`${TEST_FAILURES_VAR}: ${user} fails at ${step}, not a step`);
  }
  return failingAt((order) => plan.get(order.user_id) as StepName | undefined, simulatedHandlers(config));
}
