// One trace per order: an API process and a worker node process export to a local OTLP/HTTP receiver;
// the placement's span and the span of every step share one trace id, and the logs carry it; a step
// whose node is killed shows both runs. Also: the protobuf protocol reaches the collector, a collector
// that hangs does not hold up an exit, and with no endpoint nothing is traced nor loaded.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { baseEnv } from '../../scripts/kit/spawn.js';
import { STEPS } from '../../shared/domain/order.js';
import { redisNodes } from '../support/cluster.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { killAll, type LogLine, type ServiceProcess, spawnApi, spawnWorker } from '../support/processes.js';
import { createTestSystem } from '../support/system.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const system = createTestSystem();
const services: ServiceProcess[] = [];
const receivers: OtlpReceiver[] = [];
const SERVER = 2; // SpanKind.SERVER as OTLP numbers it (SPAN_KIND_SERVER)
const CONSUMER = 5;

afterEach(async () => {
  // The processes first: close() deletes the namespace, which a live node would write to again.
  await killAll(services.splice(0));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});
afterAll(() => system.close());

/** What every process of this file is told: the test cluster, this file's namespace, quick steps. */
function env(extra: Record<string, string> = {}) {
  return {
    REDIS_NODES: redisNodes(),
    KEY_NAMESPACE: system.config.KEY_NAMESPACE,
    STEP_MS: '50',
    STEP_FAILURE_RATE: '0',
    ...extra,
  };
}

async function receiver(options?: Parameters<typeof startOtlpReceiver>[0]) {
  const started = await startOtlpReceiver(options);
  receivers.push(started);
  return started;
}

/** SIGTERM, and the exit it led to: the shutdown flushes the spans still buffered. */
async function stop(service: ServiceProcess) {
  const since = Date.now();
  service.signal('SIGTERM');
  const { code } = await service.exited;
  return { code, ms: Date.now() - since };
}

describe('with OTEL_EXPORTER_OTLP_ENDPOINT set (http/json)', () => {
  it('puts the placement and the four steps of an order, run in two processes, in one trace', async () => {
    const collector = await receiver();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
    const node = spawnWorker('trace-node', system.config, env(otel), services);
    const [{ service: api, url }] = await Promise.all([
      spawnApi('trace-api', env(otel), services),
      node.waitForLog((l) => l.event === 'node-started', 60_000),
    ]);

    // The client's own trace: the placement continues it, so the trace id is known in advance.
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpanId = '00f067aa0ba902b7';
    const res = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${clientSpanId}-01` },
      body: JSON.stringify({ user_id: 'traced-user', items: [{ sku: 'A-1', qty: 1 }] }),
    });
    expect(res.status).toBe(202);
    const { order_id: orderId, shard } = (await res.json()) as { order_id: string; shard: number };
    expect((await system.waitForTerminal(orderId, 30_000)).status).toBe('completed');

    expect((await stop(node)).code).toBe(0);
    expect((await stop(api)).code).toBe(0);

    const ofOrder = collector.spans.filter((s) => s.attributes['orderflow.order_id'] === orderId);
    const placement = ofOrder.find((s) => s.service === 'orderflow-api');
    expect(placement).toMatchObject({
      traceId,
      parentSpanId: clientSpanId,
      name: 'POST /orders',
      kind: SERVER,
      attributes: {
        'http.request.method': 'POST',
        'http.route': '/orders',
        'url.path': '/orders',
        'http.response.status_code': 202,
        'orderflow.shard': shard,
      },
    });
    const steps = ofOrder.filter((s) => s.service === 'orderflow-worker');
    expect(steps.map((s) => s.name)).toEqual(expect.arrayContaining(STEPS.map((step) => `step ${step}`)));
    expect(steps).toHaveLength(STEPS.length);
    for (const step of steps) {
      expect(step).toMatchObject({
        traceId,
        parentSpanId: placement!.spanId,
        kind: CONSUMER,
        attributes: {
          'orderflow.shard': shard,
          'orderflow.step': step.name.slice('step '.length),
          'orderflow.attempt': 1,
          'orderflow.node_id': 'trace-node',
          'orderflow.outcome': 'completed',
        },
      });
    }

    // Logs join the trace: the worker's lines of a step carry the trace id and that step's span id.
    const started = node.logs.filter((l) => l.event === 'step-started' && l.order_id === orderId);
    expect(started).toHaveLength(STEPS.length);
    for (const line of started) {
      expect(line.trace_id).toBe(traceId);
      expect(steps.find((s) => s.attributes['orderflow.step'] === line.step)?.spanId).toBe(line.span_id);
    }
    const request = api.logs.find((l) => l.event === 'request' && l.order_id === orderId);
    expect(request).toMatchObject({ trace_id: traceId, span_id: placement!.spanId });
  }, 120_000);
});

describe('when the node running a step is killed', () => {
  it('shows both runs of the step in the trace: the dead one from the record, and the takeover', async () => {
    const collector = await receiver();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
    // Steps long enough to kill a node inside one. Whether the registry or the lock's expiry hands the
    // step over (the default LOCK_MS bounds both), the trace must show the same two runs.
    const slow = { ...otel, STEP_MS: '2000' };
    const nodes = ['node-x', 'node-y'].map((id) => spawnWorker(id, system.config, env(slow), services));
    const [{ service: api, url }] = await Promise.all([
      spawnApi('takeover-api', env(otel), services),
      ...nodes.map((n) => n.waitForLog((l) => l.event === 'node-started', 60_000)),
    ]);
    const res = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'taken-over-user' }),
    });
    const { order_id: orderId } = (await res.json()) as { order_id: string };
    const isFirstStart = (l: LogLine) => l.event === 'step-started' && l.order_id === orderId;
    const victim = await Promise.race(nodes.map((n) => n.waitForLog(isFirstStart, 30_000).then(() => n)));
    victim.signal('SIGKILL');
    const survivor = nodes.find((n) => n !== victim)!;
    expect((await system.waitForTerminal(orderId, 60_000)).status).toBe('completed');
    expect((await stop(survivor)).code).toBe(0);
    expect((await stop(api)).code).toBe(0);

    const placement = collector.spans.find(
      (s) => s.service === 'orderflow-api' && s.attributes['orderflow.order_id'] === orderId,
    );
    const runs = collector.spans.filter(
      (s) => s.attributes['orderflow.order_id'] === orderId && s.name === 'step scheduling',
    );
    expect(runs.map((s) => [s.attributes['orderflow.node_id'], s.attributes['orderflow.outcome']])).toEqual(
      expect.arrayContaining([
        [victim.name, 'abandoned'],
        [survivor.name, 'completed'],
      ]),
    );
    expect(runs).toHaveLength(2);
    for (const run of runs) {
      expect(run.traceId).toBe(placement!.traceId);
      expect(run.parentSpanId).toBe(placement!.spanId);
      expect(run.service).toBe('orderflow-worker');
    }
    const dead = runs.find((s) => s.attributes['orderflow.outcome'] === 'abandoned')!;
    expect(dead.attributes).toMatchObject({ 'orderflow.reconstructed': true, 'orderflow.attempt': 1 });
    const taker = runs.find((s) => s.attributes['orderflow.outcome'] === 'completed')!;
    expect(Number(taker.attributes['orderflow.attempt'])).toBeGreaterThan(1);
  }, 120_000);
});

describe('with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf', () => {
  it('posts protobuf to <endpoint>/v1/traces', async () => {
    const collector = await receiver();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };
    const { service: api, url } = await spawnApi('proto-api', env(otel), services);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await stop(api)).code).toBe(0);
    expect(collector.requests.length).toBeGreaterThan(0);
    for (const request of collector.requests) {
      expect(request.contentType).toBe('application/x-protobuf');
      expect(request.bytes).toBeGreaterThan(0);
    }
  }, 60_000);
});

describe('when the collector never answers', () => {
  it('still exits 0 on SIGTERM, within a bounded time, dropping the buffered spans', async () => {
    const collector = await receiver({ answer: false });
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url };
    const { service: api, url } = await spawnApi('hung-collector-api', env(otel), services);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const { code, ms } = await stop(api);
    expect(code).toBe(0);
    // The export's own timeout (2 s) or the shutdown's bound (5 s), plus the rest of the shutdown.
    expect(ms).toBeLessThan(15_000);
    expect(collector.requests.length).toBeGreaterThan(0);
    expect(api.logs.find((l) => l.event === 'stopped')).toMatchObject({ clean: true });
  }, 60_000);
});

/** The @opentelemetry packages a process loads with the API's and the nodes' modules and `env`. */
function loadedPackages(extra: Record<string, string>): { traced: boolean; packages: string[] } {
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/loaded-otel-packages.ts'],
    {
      cwd: root,
      env: { ...baseEnv(), ...extra },
      encoding: 'utf8',
    },
  );
  return JSON.parse(output);
}

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('loads no package of the SDK, only the API', () => {
    expect(loadedPackages({})).toEqual({ traced: false, packages: ['@opentelemetry/api'] });
    // The same check sees the SDK when it is loaded.
    const on = loadedPackages({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
    expect(on.traced).toBe(true);
    expect(on.packages).toEqual(expect.arrayContaining(['@opentelemetry/sdk-trace-node']));
  }, 60_000);

  it('starts no tracing and writes no trace ids', async () => {
    const { service: api, url } = await spawnApi('untraced-api', env(), services);
    const res = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'untraced-user' }),
    });
    expect(res.status).toBe(202);
    expect((await stop(api)).code).toBe(0);
    expect(api.logs.some((l) => l.event === 'request')).toBe(true);
    expect(api.logs.filter((l) => l.event === 'tracing-started' || 'trace_id' in l)).toEqual([]);
  }, 60_000);
});
