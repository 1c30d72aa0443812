// One short stress run end to end: the API served over HTTP, an in-process worker node, the real cluster.
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStress } from '../../stress/run-stress.js';
import { stressOptions } from '../../stress/stress-options.js';
import type { StressReport } from '../../stress/stress-report.js';
import { resolveSystemParameters } from '../../stress/system-parameters.js';
import { createTestSystem, type TestSystem } from '../support/system.js';

const ORDERS = 60;
const STEP_MS = 20;

describe('a stress run against a live API with one worker node', () => {
  let system: TestSystem;
  let server: ServerType;
  let report: StressReport;
  let url: string;

  beforeAll(async () => {
    // Failures at 10 % so that some orders roll back; the assertions hold for any draw.
    system = createTestSystem({ STEP_MS: String(STEP_MS), STEP_FAILURE_RATE: '0.1', COMPENSATION_MS: '5' });
    system.startNode();
    const port = await new Promise<number>((resolve) => {
      server = serve({ fetch: system.app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
        resolve(info.port),
      );
    });
    url = `http://127.0.0.1:${port}`;
    report = await runStress({
      url,
      orders: ORDERS,
      concurrency: 6,
      users: 12,
      track: true,
      stepMs: STEP_MS,
      failureRate: 0.1,
      trackTimeoutS: 60,
      progress: false,
    });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await system?.close();
  });

  it('places every order once, without errors', () => {
    const p = report.placement;
    expect(p.answered).toBe(ORDERS);
    expect(p.acknowledged).toBe(ORDERS);
    expect(p.statuses).toEqual({ 202: ORDERS });
    expect(p.error_count).toBe(0);
    expect(p.non_2xx).toBe(0);
    expect(p.latency_ms.count).toBe(ORDERS);
    expect(p.requests_per_s).toBeGreaterThan(0);
  });

  it('follows every placed order to completed or failed', () => {
    const t = report.tracking!;
    expect(t.completed + t.failed).toBe(ORDERS);
    expect(t.stuck).toBe(0);
    expect(t.lost).toBe(0);
    expect(t.stopped_by).toBe('finished');
    expect(report.problems).toEqual([]);
  });

  it('reports figures that agree with each other', () => {
    const t = report.tracking!;
    expect(t.end_to_end_ms.count).toBe(t.completed);
    expect(t.failure.observed_rate).toBeCloseTo(t.failed / ORDERS, 10);
    expect(t.failure.expected_rate).toBeCloseTo(1 - 0.9 ** 4, 10);
    expect(t.failure.ci95.low).toBeLessThanOrEqual(t.failure.observed_rate!);
    expect(t.failure.ci95.high).toBeGreaterThanOrEqual(t.failure.observed_rate!);
    if (t.completed > 0) {
      // A completed order ran four steps of STEP_MS after it was created.
      expect(t.end_to_end_ms.min).toBeGreaterThanOrEqual(4 * STEP_MS);
      expect(t.overhead_ms.p50).toBeCloseTo(t.end_to_end_ms.p50 - 4 * STEP_MS, 6);
      expect(t.processing_ms.max).toBeLessThanOrEqual(t.end_to_end_ms.max);
      expect(t.dispatch_gap_ms.count).toBeGreaterThanOrEqual(3 * t.completed);
    }
    expect(t.throughput.step_runs).toBeGreaterThanOrEqual(ORDERS);
    expect(t.throughput.steps_per_s).toBeGreaterThan(0);
  });

  it('takes STEP_MS from the flag and capacity from the live nodes when the API lists them', () => {
    const s = report.system;
    expect(s.step_ms).toBe(STEP_MS);
    expect(s.step_ms_source).toBe('flag');
    if (s.nodes !== null && s.nodes > 0) {
      expect(s.capacity_steps_per_s).toBeCloseTo((s.nodes * s.worker_concurrency! * 1000) / STEP_MS, 6);
    }
  });

  it("without flags, takes STEP_MS, the failure rate and capacity from the live node's heartbeat", async () => {
    const s = await resolveSystemParameters(stressOptions({ url }));
    expect(s).toMatchObject({
      step_ms: STEP_MS,
      step_ms_source: 'api',
      failure_rate: 0.1,
      failure_rate_source: 'api',
      nodes: 1,
      worker_concurrency: system.config.WORKER_CONCURRENCY,
      nodes_source: 'api',
    });
  });
});
