// The default handlers (workers/steps/simulated.ts), the error typing of the handler contract, and
// the test-only failure plan of spawned worker processes (workers/steps/test-failures.ts).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createFailurePolicy } from '../../shared/domain/failure-policy.js';
import { newOrder, type StepName } from '../../shared/domain/order.js';
import {
  failureReason,
  isBusinessFailure,
  type StepContext,
  StepFailure,
  type StepHandlers,
} from '../../workers/steps/contract.js';
import { createSimulatedHandlers, simulatedHandlers } from '../../workers/steps/simulated.js';
import { plannedReason, TEST_FAILURES_VAR, testFailuresFromEnv } from '../../workers/steps/test-failures.js';

const silent = pino({ level: 'silent' });

function ctxOf(step: StepName, user = 'user-1', signal = new AbortController().signal): StepContext {
  const order = newOrder('3-01JHMXBCG00000000000000001', 3, { user_id: user }, new Date(0));
  return { order, step, attempt: 1, nodeId: 'node-a', log: silent, signal };
}

/** How long `call` took, and what it threw (undefined when it resolved). */
async function timed(call: () => Promise<void>) {
  const start = performance.now();
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { ms: performance.now() - start, error };
}

describe('the simulated handlers', () => {
  const never = createFailurePolicy({ rate: 0 });

  it('take STEP_MS to do a step and COMPENSATION_MS to undo one', async () => {
    const handlers = createSimulatedHandlers({ stepMs: 60, compensationMs: 20, failureOf: never });
    const run = await timed(() => handlers.processing.run(ctxOf('processing')));
    const undo = await timed(() => handlers.processing.compensate(ctxOf('processing')));
    expect(run.error).toBeUndefined();
    expect(undo.error).toBeUndefined();
    expect(run.ms).toBeGreaterThanOrEqual(55);
    expect(undo.ms).toBeGreaterThanOrEqual(15);
    expect(undo.ms).toBeLessThan(run.ms);
  });

  it('fail a step with a StepFailure carrying the reason the draw gives', async () => {
    const handlers = createSimulatedHandlers({
      stepMs: 0,
      compensationMs: 0,
      failureOf: createFailurePolicy({ rate: 1, seed: 's' }),
    });
    const { error } = await timed(() => handlers.scheduling.run(ctxOf('scheduling')));
    expect(error).toBeInstanceOf(StepFailure);
    expect(error).toMatchObject({ reason: 'scheduling failed (simulated, rate 1)', nonRetryable: true });
  });

  it('stop sleeping as soon as the run is aborted, the abort reason as the cause', async () => {
    const handlers = createSimulatedHandlers({ stepMs: 10_000, compensationMs: 10_000, failureOf: never });
    for (const kind of ['run', 'compensate'] as const) {
      const abort = new AbortController();
      const reason = new Error('lock lost');
      setTimeout(() => abort.abort(reason), 20);
      const { ms, error } = await timed(() =>
        handlers.processing[kind](ctxOf('processing', 'u', abort.signal)),
      );
      expect(error).toMatchObject({ name: 'AbortError', cause: reason });
      expect(ms).toBeLessThan(2000);
    }
  });

  it('are built from STEP_MS, COMPENSATION_MS, STEP_FAILURE_RATE and FAILURE_SEED', async () => {
    const config = { STEP_MS: 0, COMPENSATION_MS: 0, STEP_FAILURE_RATE: 0.5, FAILURE_SEED: 'seed-1' };
    const expected = createFailurePolicy({ rate: 0.5, seed: 'seed-1' });
    const handlers = simulatedHandlers(config);
    for (const step of ['scheduling', 'pre-processing', 'processing', 'post-processing'] as const) {
      const ctx = ctxOf(step);
      const { error } = await timed(() => handlers[step].run(ctx));
      expect((error as StepFailure | undefined)?.reason ?? null).toBe(expected(ctx.order, step));
    }
  });
});

describe('the error typing', () => {
  it('takes any error that says it is not retryable as a business failure, and nothing else', () => {
    const foreign = Object.assign(new Error('card declined'), { nonRetryable: true });
    expect(isBusinessFailure(new StepFailure('out of stock'))).toBe(true);
    expect(isBusinessFailure(foreign)).toBe(true);
    expect(isBusinessFailure(Object.assign(new Error('x'), { nonRetryable: 'yes' }))).toBe(false);
    expect(isBusinessFailure(new Error('ECONNRESET'))).toBe(false);
    expect(isBusinessFailure({ nonRetryable: true, message: 'not an Error' })).toBe(false);
    expect(failureReason(new StepFailure('out of stock'))).toBe('out of stock');
    expect(failureReason(foreign)).toBe('card declined');
  });
});

describe('the failure plan of spawned worker processes', () => {
  const config = { STEP_MS: 0, COMPENSATION_MS: 0, STEP_FAILURE_RATE: 0, FAILURE_SEED: undefined };
  const plan = JSON.stringify({ 'doomed-user': 'processing' });

  it('is off unless NODE_ENV is test, whatever the plan says', () => {
    for (const NODE_ENV of [undefined, 'production', 'development']) {
      expect(testFailuresFromEnv(config, { NODE_ENV, [TEST_FAILURES_VAR]: plan })).toBeUndefined();
    }
    expect(testFailuresFromEnv(config, { NODE_ENV: 'test' })).toBeUndefined();
  });

  it('fails the planned step of the planned users only', async () => {
    const handlers = testFailuresFromEnv(config, {
      NODE_ENV: 'test',
      [TEST_FAILURES_VAR]: plan,
    }) as StepHandlers;
    const failed = async (step: StepName, user: string) =>
      (await timed(() => handlers[step].run(ctxOf(step, user)))).error;
    expect(await failed('processing', 'doomed-user')).toEqual(new StepFailure(plannedReason('processing')));
    expect(await failed('pre-processing', 'doomed-user')).toBeUndefined();
    expect(await failed('processing', 'someone-else')).toBeUndefined();
  });

  it('refuses a plan naming no step, so the process does not start', () => {
    const env = { NODE_ENV: 'test', [TEST_FAILURES_VAR]: JSON.stringify({ u: 'shipping' }) };
    expect(() => testFailuresFromEnv(config, env)).toThrow(
      `${TEST_FAILURES_VAR}: u fails at shipping, not a step`,
    );
  });
});
