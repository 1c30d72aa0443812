// A fake world for the step processor: one placed order, a fake store and clock, scripted step
// handlers, and nodes.
import type { Job } from 'bullmq';
import { pino } from 'pino';
import { newOrder, STEPS, type StepName } from '../../../shared/domain/order.js';
import type { StepJobData } from '../../../shared/order-flow.js';
import { stepJobId } from '../../../shared/order-id.js';
import { createStepProcessor, type StepProcessorDeps } from '../../../workers/step-processor.js';
import { failingAt, type Script, scriptedHandlers } from '../../support/step-handlers.js';
import { createFakeOrderStore } from './order-store.js';

export const T0 = Date.UTC(2025, 0, 15, 12);
export const ORDER_ID = '3-01JHMXBCG00000000000000001';
/** The instant of the clock's `n`th reading: every reading advances it by one second. */
export const iso = (n: number) => new Date(T0 + n * 1000).toISOString();
export const jobIdOf = (step: StepName) => stepJobId(ORDER_ID, step);

export type JobFields = Partial<Pick<Job<StepJobData>, 'stalledCounter'>>;

/** A Job with just the fields the processor reads. */
export function fakeJob(step: StepName, fields: JobFields = {}): Job<StepJobData> {
  const job: Pick<Job<StepJobData>, 'id' | 'data' | 'attemptsStarted' | 'stalledCounter' | 'timestamp'> = {
    id: jobIdOf(step),
    data: { order_id: ORDER_ID, user_id: 'user', shard: 3, step },
    attemptsStarted: 1,
    stalledCounter: 0,
    timestamp: T0,
    ...fields,
  };
  return job as Job<StepJobData>;
}

/**
 * One placed order in a fake store, a shared fake clock, and nodes that run its steps. The handlers
 * record every call (`calls`), run what the test puts in `hooks`, and fail `failAt` if given.
 */
export function createWorld(options: { failAt?: StepName } = {}) {
  const store = createFakeOrderStore();
  store.place(newOrder(ORDER_ID, 3, { user_id: 'user-1' }, new Date(T0)));
  let clock = T0;
  const hooks: Script = {};
  const scripted = scriptedHandlers({
    run: (ctx) => hooks.run?.(ctx),
    compensate: (ctx) => hooks.compensate?.(ctx),
  });
  const handlers = failingAt(() => options.failAt, scripted);
  /** Every log line of every node, parsed. */
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) });

  function node(nodeId: string, deps: Partial<StepProcessorDeps> = {}) {
    const process = createStepProcessor({
      orders: store.orders,
      nodeId,
      handlers,
      maxStepCrashes: 2,
      resendDelaysMs: [0, 0],
      logger: logger.child({ node_id: nodeId }),
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
      ...deps,
    });
    let runs = 0;
    /** Runs `step` as BullMQ would: under the job's lock, held by a new token of this node. */
    const run = (step: StepName, fields?: JobFields, signal?: AbortSignal) => {
      const token = `${nodeId}-${++runs}`;
      store.lock(jobIdOf(step), token);
      return process(fakeJob(step, fields), token, signal);
    };
    return Object.assign(run, { process });
  }

  /** Runs the chain as BullMQ would: each step after its predecessor, none after one threw. */
  async function runChain(run: (step: StepName) => Promise<unknown>): Promise<unknown> {
    for (const step of STEPS) {
      try {
        await run(step);
      } catch (error) {
        return error;
      }
    }
    return undefined;
  }

  const calls = scripted.calls;
  return { store, node, runChain, calls, hooks, logs, order: () => store.record(ORDER_ID)!.order };
}
