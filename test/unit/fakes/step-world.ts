// A fake world for the step processor: one placed order, a fake store, clock and sleep, and nodes.
import type { Job } from 'bullmq';
import { pino } from 'pino';
import { createFailurePolicy } from '../../../shared/domain/failure-policy.js';
import { newOrder, STEPS, type StepName } from '../../../shared/domain/order.js';
import type { StepJobData } from '../../../shared/order-flow.js';
import { stepJobId } from '../../../shared/order-id.js';
import { createStepProcessor, type StepProcessorDeps } from '../../../workers/step-processor.js';
import { createFakeOrderStore } from './order-store.js';

export const T0 = Date.UTC(2025, 0, 15, 12);
export const ORDER_ID = '3-01JHMXBCG00000000000000001';
export const STEP_MS = 100;
export const COMPENSATION_MS = 7;
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

/** One placed order in a fake store, a shared fake clock, and nodes that run its steps. */
export function createWorld(userId = 'user-1') {
  const store = createFakeOrderStore();
  store.place(newOrder(ORDER_ID, 3, { user_id: userId }, new Date(T0)));
  let clock = T0;
  const sleeps: Array<[node: string, ms: number]> = [];
  const hooks: { sleep?: (ms: number) => void } = {};
  /** Every log line of every node, parsed. */
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) });

  function node(nodeId: string, deps: Partial<StepProcessorDeps> = {}) {
    const process = createStepProcessor({
      orders: store.orders,
      nodeId,
      stepMs: STEP_MS,
      compensationMs: COMPENSATION_MS,
      maxStepCrashes: 2,
      resendDelaysMs: [0, 0],
      failureOf: createFailurePolicy({ rate: 0, directives: true }),
      logger: logger.child({ node_id: nodeId }),
      sleep: async (ms) => {
        sleeps.push([nodeId, ms]);
        hooks.sleep?.(ms);
      },
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
      ...deps,
    });
    let runs = 0;
    /** Runs `step` as BullMQ would: under the job's lock, held by a new token of this node. */
    const run = (step: StepName, fields?: JobFields) => {
      const token = `${nodeId}-${++runs}`;
      store.lock(jobIdOf(step), token);
      return process(fakeJob(step, fields), token);
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

  return { store, node, runChain, sleeps, hooks, logs, order: () => store.record(ORDER_ID)!.order };
}
