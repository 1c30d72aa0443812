// One short stress run end to end: the API served over HTTP, an in-process worker node, the real cluster.
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFailurePolicy } from '../../shared/domain/failure-policy.js';
import { newOrder, type OrderRecord, STEPS, type StepName } from '../../shared/domain/order.js';
import { wilsonInterval } from '../../stress/report-math.js';
import { runStress } from '../../stress/run-stress.js';
import { stressOptions } from '../../stress/stress-options.js';
import type { StressReport } from '../../stress/stress-report.js';
import { resolveSystemParameters } from '../../stress/system-parameters.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

const ORDERS = 60;
const STEP_MS = 20;
const RATE = 0.1;
const SEED = 'stress-e2e';

/**
 * The step at which the seeded draw fails `orderId`, or null when it completes: the chain stops at
 * the first failed step. Computed here, apart from the run, with the policy the nodes use: with a
 * seed it is a pure function of (seed, order id, step), so the outcome of every acknowledged order
 * is known before it is tracked.
 */
const predicted = (() => {
  const failureOf = createFailurePolicy({ rate: RATE, seed: SEED });
  return (orderId: string): StepName | null => {
    const order = newOrder(orderId, 0, { user_id: 'prediction' }, new Date(0));
    return STEPS.find((step) => failureOf(order, step) !== null) ?? null;
  };
})();

describe('a stress run against a live API with one worker node', () => {
  let system: TestSystem;
  let server: ServerType;
  let report: StressReport;
  let url: string;
  const acknowledged: string[] = [];
  /** What the seeded draw decides for the acknowledged orders: failed step per order, and counts. */
  let expectedFailedAt: Map<string, StepName | null>;
  let expectedFailed = 0;
  let expectedCompleted = 0;

  beforeAll(async () => {
    // Failures at 10 %, seeded, so that some orders roll back and which ones is known (see predicted).
    system = createTestSystem({
      STEP_MS: String(STEP_MS),
      STEP_FAILURE_RATE: String(RATE),
      FAILURE_SEED: SEED,
      COMPENSATION_MS: '5',
    });
    system.startNode();
    // The run reads the live nodes once, at its start: the node must be registered by then.
    await waitFor(
      async () => ((await system.get('/nodes')).body.nodes.length === 1 ? true : undefined),
      10_000,
      'the node to heartbeat',
    );
    const port = await new Promise<number>((resolve) => {
      server = serve({ fetch: system.app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
        resolve(info.port),
      );
    });
    url = `http://127.0.0.1:${port}`;
    report = await runStress(
      {
        url,
        orders: ORDERS,
        concurrency: 6,
        users: 12,
        track: true,
        stepMs: STEP_MS,
        failureRate: RATE,
        trackTimeoutS: 60,
        progress: false,
      },
      { onAck: (ack) => acknowledged.push(ack.orderId) },
    );
    expectedFailedAt = new Map(acknowledged.map((id) => [id, predicted(id)]));
    expectedFailed = [...expectedFailedAt.values()].filter((step) => step !== null).length;
    expectedCompleted = acknowledged.length - expectedFailed;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await system?.close();
  });

  it('places every order once, without errors', () => {
    const p = report.placement;
    expect(p.answered).toBe(ORDERS);
    expect(p.acknowledged).toBe(ORDERS);
    expect(new Set(acknowledged).size).toBe(ORDERS);
    expect(p.statuses).toEqual({ 202: ORDERS });
    expect(p.error_count).toBe(0);
    expect(p.non_2xx).toBe(0);
    expect(p.latency_ms.count).toBe(ORDERS);
    expect(p.requests_per_s).toBeGreaterThan(0);
  });

  it('has both completed and failed orders to report on', () => {
    // A precondition of the figures below, not luck they rely on: with 60 random order ids the draw
    // fails none with chance 0.9^240 ≈ 1e-11 and all with chance (1 - 0.9^4)^60 ≈ 1e-28.
    expect(expectedFailed).toBeGreaterThan(0);
    expect(expectedCompleted).toBeGreaterThan(0);
  });

  it('fails exactly the orders the seeded draw fails, at the step it picks, and completes the others', async () => {
    for (const [orderId, step] of expectedFailedAt) {
      const { body } = await system.get(`/orders/${orderId}`);
      const order = body as OrderRecord;
      if (step === null) {
        expect({ orderId, status: order.status, failure: order.failure }).toEqual({
          orderId,
          status: 'completed',
          failure: null,
        });
      } else {
        expect({ orderId, status: order.status, failure: order.failure }).toEqual({
          orderId,
          status: 'failed',
          failure: { step, reason: `${step} failed (simulated, rate ${RATE})` },
        });
      }
    }
  });

  it('follows every placed order to completed or failed', () => {
    const t = report.tracking!;
    expect(t.completed).toBe(expectedCompleted);
    expect(t.failed).toBe(expectedFailed);
    expect(t.stuck).toBe(0);
    expect(t.lost).toBe(0);
    expect(t.stopped_by).toBe('finished');
    expect(report.problems).toEqual([]);
  });

  it('reports the failure rate of the known count, with its interval and the expected rate', () => {
    const f = report.tracking!.failure;
    expect(f.observed_rate).toBeCloseTo(expectedFailed / ORDERS, 10);
    expect(f.expected_rate).toBeCloseTo(1 - (1 - RATE) ** 4, 10);
    expect(f.ci95).toEqual(wilsonInterval(expectedFailed, ORDERS));
    const { low, high } = wilsonInterval(expectedFailed, ORDERS);
    expect(f.consistent).toBe(low <= f.expected_rate && f.expected_rate <= high);
    expect(f.causes).toEqual({ simulated: expectedFailed, other: 0 });
  });

  it('reports timings and throughput that agree with the orders run', () => {
    const t = report.tracking!;
    const failedAt = [...expectedFailedAt.values()]
      .filter((step): step is StepName => step !== null)
      .map((step) => STEPS.indexOf(step));
    expect(t.end_to_end_ms.count).toBe(expectedCompleted);
    // A completed order ran four steps of STEP_MS after it was created.
    expect(t.end_to_end_ms.min).toBeGreaterThanOrEqual(4 * STEP_MS);
    expect(t.overhead_ms.p50).toBeCloseTo(t.end_to_end_ms.p50 - 4 * STEP_MS, 6);
    expect(t.processing_ms.count).toBe(expectedCompleted);
    expect(t.processing_ms.max).toBeLessThanOrEqual(t.end_to_end_ms.max);
    // A completed order has a gap before each of its last three steps; one failed at step i, i gaps.
    expect(t.dispatch_gap_ms.count).toBe(3 * expectedCompleted + failedAt.reduce((a, i) => a + i, 0));
    // Every step that ran once to its end: four per completed order, i + 1 per order failed at i.
    expect(t.throughput.step_runs).toBe(4 * expectedCompleted + failedAt.reduce((a, i) => a + i + 1, 0));
    expect(t.throughput.steps_per_s).toBeGreaterThan(0);
  });

  it('takes STEP_MS from the flag and capacity from the live node', () => {
    const s = report.system;
    expect(s).toMatchObject({
      step_ms: STEP_MS,
      step_ms_source: 'flag',
      failure_rate: RATE,
      failure_rate_source: 'flag',
      nodes: 1,
      worker_concurrency: system.config.WORKER_CONCURRENCY,
      nodes_source: 'api',
    });
    expect(s.capacity_steps_per_s).toBeCloseTo((system.config.WORKER_CONCURRENCY * 1000) / STEP_MS, 6);
  });

  it("without flags, takes STEP_MS, the failure rate and capacity from the live node's heartbeat", async () => {
    const s = await resolveSystemParameters(stressOptions({ url }));
    expect(s).toMatchObject({
      step_ms: STEP_MS,
      step_ms_source: 'api',
      failure_rate: RATE,
      failure_rate_source: 'api',
      nodes: 1,
      worker_concurrency: system.config.WORKER_CONCURRENCY,
      nodes_source: 'api',
    });
  });
});
