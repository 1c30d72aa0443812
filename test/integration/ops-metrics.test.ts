// /metrics, /stats, /shards and the docs after orders flowed through an in-process metered node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySlot } from '../../shared/sharding.js';
import { simulatedHandlers } from '../../workers/steps/simulated.js';
import { startMeteredNode } from '../support/metered-node.js';
import { type MetricFamily, parsePrometheus, sumOf } from '../support/prometheus.js';
import { failingAt } from '../support/step-handlers.js';
import { createTestSystem, waitFor } from '../support/system.js';

const TOKEN = 'ops-metrics-test-token';
const NODE = 'metrics-node';
const system = createTestSystem({ ADMIN_TOKEN: TOKEN, HEARTBEAT_MS: '500' });
const failedIds: string[] = [];

async function scrape(): Promise<Map<string, MetricFamily>> {
  const res = await system.app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

beforeAll(async () => {
  // The orders of the metrics-bad users fail at processing.
  const failAt = (order: { user_id: string }) =>
    order.user_id.startsWith('metrics-bad-') ? 'processing' : null;
  startMeteredNode(system, NODE, {}, failingAt(failAt, simulatedHandlers(system.config)));
  const placements = [
    ...[1, 2, 3, 4].map((i) => system.place({ user_id: `metrics-ok-${i}` })),
    ...[1, 2].map((i) => system.place({ user_id: `metrics-bad-${i}` })),
  ];
  const placed = await Promise.all(placements);
  // An idempotent replay is the same order: it must not count as a placement.
  const first = await system.place({ user_id: 'metrics-ok-1' }, { 'idempotency-key': 'replay' });
  const replay = await system.place({ user_id: 'metrics-ok-1' }, { 'idempotency-key': 'replay' });
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  const ids = [...placed, first].map((p) => p.body.order_id as string);
  const orders = await Promise.all(ids.map((id) => system.waitForTerminal(id)));
  failedIds.push(...orders.filter((o) => o.status === 'failed').map((o) => o.order_id));
  // Worker counts reach the API with the node's next heartbeat.
  await waitFor(
    async () => (sumOf(await scrape(), 'orderflow_orders_finished_total') === 7 ? true : undefined),
    15_000,
    'the node to publish its metrics',
  );
});
afterAll(() => system.close());

describe('GET /metrics', () => {
  it('is valid Prometheus text with a TYPE and HELP for every family', async () => {
    const families = await scrape();
    expect(families.size).toBeGreaterThanOrEqual(12);
    for (const family of families.values()) {
      expect(family.type).not.toBe('untyped');
      expect(family.help).not.toBe('');
    }
  });

  it('counts the orders placed by the API, replays excluded', async () => {
    expect(sumOf(await scrape(), 'orderflow_orders_placed_total')).toBe(7);
  });

  it("counts completed and failed orders from the worker node's metrics in the store", async () => {
    const families = await scrape();
    const finished = (outcome: string) =>
      sumOf(families, 'orderflow_orders_finished_total', { outcome, node_id: NODE });
    expect(finished('completed')).toBe(5);
    expect(finished('failed')).toBe(2);
    expect(sumOf(families, 'orderflow_order_duration_seconds_count')).toBe(7);
  });

  it('has step duration and queue-wait histograms per step', async () => {
    const families = await scrape();
    const steps = (step: string, outcome: string) =>
      sumOf(families, 'orderflow_step_duration_seconds_count', { step, outcome });
    expect(steps('scheduling', 'completed')).toBe(7);
    expect(steps('pre-processing', 'completed')).toBe(7);
    expect(steps('processing', 'completed')).toBe(5);
    expect(steps('processing', 'failed')).toBe(2);
    expect(steps('post-processing', 'completed')).toBe(5);
    expect(families.get('orderflow_step_duration_seconds')?.type).toBe('histogram');
    expect(sumOf(families, 'orderflow_step_queue_wait_seconds_count', { step: 'processing' })).toBe(7);
    const infBucket = sumOf(families, 'orderflow_step_queue_wait_seconds_bucket', { le: '+Inf' });
    expect(infBucket).toBe(sumOf(families, 'orderflow_step_queue_wait_seconds_count'));
  });

  it('has backlog per shard, live nodes, active steps per node, stalls and fencing refusals', async () => {
    const families = await scrape();
    const backlog = families.get('orderflow_shard_backlog_jobs')!;
    expect(backlog.type).toBe('gauge');
    expect(backlog.samples.map((s) => s.labels.shard)).toEqual(
      Array.from({ length: 12 }, (_, i) => String(i)),
    );
    expect(sumOf(families, 'orderflow_nodes_alive')).toBe(1);
    expect(families.get('orderflow_node_active_steps')?.samples[0]?.labels.node_id).toBe(NODE);
    expect(sumOf(families, 'orderflow_node_concurrency')).toBe(system.config.WORKER_CONCURRENCY);
    expect(families.get('orderflow_stalled_recoveries_total')?.type).toBe('counter');
    expect(families.get('orderflow_fencing_refusals_total')?.type).toBe('counter');
  });
});

describe('GET /stats', () => {
  it('summarises orders, steps, rates, backlog and nodes', async () => {
    const { status, body } = await system.get('/stats');
    expect(status).toBe(200);
    expect(body.orders).toEqual({ placed: 7, completed: 5, failed: 2, cancelled: 0, in_flight: 0 });
    expect(body.steps).toEqual({ completed: 24, failed: 2 });
    expect(body.last_minute.failure_rate).toBeCloseTo(2 / 7, 3);
    expect(body.last_minute.step_failure_rate).toBeCloseTo(2 / 26, 3);
    expect(body.last_minute.steps_per_second).toBeGreaterThan(0);
    expect(body.last_minute.window_seconds).toBeGreaterThan(0);
    expect(body.backlog).toMatchObject({ waiting: 0, delayed: 0 });
    expect(body.backlog.by_shard).toHaveLength(12);
    expect(body.nodes).toEqual({
      alive: 1,
      draining: 0,
      active_steps: expect.any(Number),
      capacity: system.config.WORKER_CONCURRENCY,
    });
  });

  it('gives the chart series of the last minutes', async () => {
    const { body } = await system.get('/stats/history?minutes=5');
    expect(body.bucket_seconds).toBe(10);
    expect(body.time).toHaveLength(30);
    for (const name of ['orders_placed_per_second', 'orders_completed_per_second', 'steps_per_second']) {
      expect(body[name]).toHaveLength(30);
    }
    expect(body.orders_completed_per_second.some((v: number) => v > 0)).toBe(true);
    expect((await system.get('/stats/history?minutes=99')).status).toBe(400);
  });
});

describe('GET /shards', () => {
  it("names the master owning each shard's slot, spread evenly over the masters", async () => {
    const { body } = await system.get('/shards');
    expect(body.shards).toHaveLength(12);
    const owners = new Map<string, number>();
    for (const [shard, s] of body.shards.entries()) {
      expect(s).toMatchObject({ shard, queue: system.keyspace.shard(shard).queueName, waiting: 0 });
      expect(s.slot).toBe(keySlot(`{${system.keyspace.shard(shard).tag}}`));
      expect(s.master).toMatch(/^[\w.-]+:\d+$/);
      owners.set(s.master, (owners.get(s.master) ?? 0) + 1);
    }
    const masters = 'nodes' in system.store ? system.store.nodes('master').length : 1;
    expect([...owners.values()]).toEqual(Array(masters).fill(12 / masters));
  });
});

describe('the dashboard data', () => {
  it('lists the failed orders, newest first, with their step and reason', async () => {
    const res = await system.app.request('/dashboard/failures', {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const { failures } = (await res.json()) as { failures: Array<Record<string, unknown>> };
    // Both lists are read from this run: an empty pair must not pass for a match.
    expect(failedIds).toHaveLength(2);
    expect(failures.map((f) => f.order_id).sort()).toEqual([...failedIds].sort());
    expect(failures[0]).toMatchObject({ step: 'processing', node_id: NODE, reason: expect.any(String) });
  });
});

describe('the API reference', () => {
  it('documents the operations routes in /openapi.json, drain as admin', async () => {
    const { body } = await system.get('/openapi.json');
    for (const path of ['/nodes', '/nodes/{node_id}', '/stats', '/stats/history', '/shards', '/metrics']) {
      expect(body.paths[path]?.get, path).toBeDefined();
    }
    expect(body.paths['/nodes/{node_id}/drain'].post.security).toEqual([
      { adminBearer: [] },
      { adminBasic: [] },
    ]);
    expect(body.components.securitySchemes.adminBearer).toEqual({ type: 'http', scheme: 'bearer' });
  });

  it('renders /docs from it with no external asset', async () => {
    const res = await system.app.request('/docs');
    const html = await res.text();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html).toContain('/nodes/{node_id}/drain');
    expect(html).toContain('id="schema-Order"');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });
});
