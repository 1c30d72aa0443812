// A real Prometheus (Debian's binary) with the shipped scrape jobs and alert rules, scraping a running
// orderflow: two API processes and two worker nodes on one namespace, with orders coming in and a
// fencing refusal provoked. The worker series are stored once, not once per API replica; every panel of
// the Grafana dashboard gets data; killing every worker node puts the nodes-alive alert in pending.
// Skips the Prometheus cases, saying so, without `prometheus`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { redisNodes } from '../support/cluster.js';
import { killAll, type LogLine, type ServiceProcess, spawnApi, spawnWorker } from '../support/processes.js';
import { parsePrometheus, sumOf } from '../support/prometheus.js';
import { createTestSystem, waitFor } from '../support/system.js';
import { onFreePort, PortTakenError } from '../support/worker-probe.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const prometheusMissing =
  spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).status === 0
    ? null
    : 'prometheus is not on PATH (Debian: apt-get install prometheus; .ci/run installs it)';

/** Prometheus scrapes and evaluates every second here; the shipped file says 5 s. */
const INTERVAL_S = 1;
/** The dashboard's queries are sent as Grafana sends them: a range query at this step. */
const STEP_S = 2;
/** Two nodes: what `orderflow:nodes_expected` says as shipped, so its alert is quiet while both live. */
const NODES = ['node-a', 'node-b'];

const system = createTestSystem({ HEARTBEAT_MS: '200' });
const services: ServiceProcess[] = [];
const nodes: ServiceProcess[] = [];
let apis: string[] = [];
const orderIds: string[] = [];
/** Orders placed through each API process. */
const placedBy = [0, 0];
/** How long orders keep coming in: long enough for every rate() of the dashboard to see them move. */
const TRAFFIC_MS = 12_000;
let prometheus: RunningPrometheus | undefined;
let workDir = '';

interface RunningPrometheus {
  url: string;
  pid: number;
  startedAt: number;
  stop(): Promise<void>;
}

/**
 * The shipped prometheus.yml for this run: each job keeps its path and `scope`, its targets are this
 * test's processes (`orderflow-api`: both API processes; `orderflow-cluster`: one of them, as the
 * service address would give), intervals of a second, the shipped rules from this checkout.
 */
function prometheusConfig(targets: Record<string, string[]>): string {
  const config = parse(readFileSync(path.join(root, 'dashboards/prometheus/prometheus.yml'), 'utf8'));
  config.global = {
    ...config.global,
    scrape_interval: `${INTERVAL_S}s`,
    scrape_timeout: `${INTERVAL_S}s`,
    evaluation_interval: `${INTERVAL_S}s`,
  };
  config.rule_files = [path.join(root, 'dashboards/prometheus/alerts.yml')];
  const jobs = config.scrape_configs.map((job: { job_name: string }) => job.job_name).sort();
  expect(jobs, 'the jobs of the shipped prometheus.yml').toEqual(Object.keys(targets).sort());
  config.scrape_configs = config.scrape_configs.map((job: Record<string, unknown>) => {
    const { dns_sd_configs: _dns, static_configs: _static, ...kept } = job;
    return { ...kept, static_configs: [{ targets: targets[job.job_name as string] }] };
  });
  return stringify(config);
}

/** Starts Debian's prometheus on a free port (again on another if the port was taken before it bound). */
async function startPrometheus(configFile: string): Promise<RunningPrometheus> {
  return onFreePort(async (port) => {
    const data = path.join(workDir, `data-${port}`);
    const child: ChildProcess = spawn(
      'prometheus',
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${data}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (child.pid === undefined) throw new Error('could not start prometheus');
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    let ended = false;
    void exited.then(() => {
      ended = true;
    });
    const url = `http://127.0.0.1:${port}`;
    const running: RunningPrometheus = {
      url,
      pid: child.pid,
      startedAt: Date.now() / 1000,
      async stop() {
        if (!ended) child.kill('SIGTERM');
        const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
        if (!stopped && !ended) child.kill('SIGKILL');
        await exited;
      },
    };
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (ended) {
        if (/address already in use/.test(output)) throw new PortTakenError(port, output.slice(-500));
        throw new Error(`prometheus ended before it was ready: ${output.slice(-2000)}`);
      }
      // Ours, not whatever else answers on the port: its flags name our data directory.
      const flags = await fetch(`${url}/api/v1/status/flags`, { signal: AbortSignal.timeout(2000) })
        .then((res) => (res.ok ? (res.json() as Promise<{ data: Record<string, string> }>) : null))
        .catch(() => null);
      const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) })
        .then((res) => res.ok)
        .catch(() => false);
      if (flags?.data['storage.tsdb.path'] === data && ready) return running;
      if (Date.now() > deadline) {
        await running.stop();
        throw new Error(`prometheus was not ready within 30 s: ${output.slice(-2000)}`);
      }
      await sleep(100);
    }
  });
}

interface Series {
  metric: Record<string, string>;
  value?: [number, string];
  values?: Array<[number, string]>;
}

async function api(pathAndQuery: string): Promise<{ resultType: string; result: Series[] }> {
  const res = await fetch(`${prometheus!.url}${pathAndQuery}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data: { resultType: string; result: Series[] };
  };
  if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${body.error}`);
  return body.data;
}
const query = async (expr: string) =>
  (await api(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result as Series[];
/** The one value of a query that has one series, or undefined. */
const scalar = async (expr: string) => {
  const result = await query(expr);
  return result.length === 1 ? Number(result[0]!.value![1]) : undefined;
};

interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
}
const alertsNamed = async (name: string) => {
  const res = await fetch(`${prometheus!.url}/api/v1/alerts`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { data: { alerts: Alert[] } };
  return body.data.alerts.filter((a) => a.labels.alertname === name);
};

async function place(apiUrl: string, user: string): Promise<string> {
  const res = await fetch(`${apiUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: user }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { order_id?: string };
  if (res.status !== 202 || !body.order_id)
    throw new Error(`placement: ${res.status} ${JSON.stringify(body)}`);
  return body.order_id;
}

const metricsOf = async (apiUrl: string, scope?: string) => {
  const res = await fetch(`${apiUrl}/metrics${scope ? `?scope=${scope}` : ''}`);
  expect(res.status).toBe(200);
  return parsePrometheus(await res.text());
};
const workerSamples = (families: Awaited<ReturnType<typeof metricsOf>>) =>
  [...families.values()].flatMap((f) => f.samples).filter((s) => s.labels.node_id !== undefined);

/** node-a's own account of a write the fence refused (not a run it dropped on a failed lock renewal). */
const isFencingRefusal = (l: LogLine) =>
  l.event === 'lock-lost' && /fenced write refused/.test(String(l.msg));

/**
 * Takes the lock of a step running on `node` from under it, as a node that took it for dead would:
 * the step's record write at its end is then refused by the fence, which the node counts in
 * orderflow_fencing_refusals_total. The step runs again elsewhere once the stolen lock expires. Its
 * locks are renewed every 10 s (LOCK_MS 20000), so the write at the end of its 1.5 s step comes
 * first; tried again on a later step should a renewal have seen the theft first.
 */
async function provokeFencingRefusal(node: ServiceProcess): Promise<void> {
  for (let attempt = 1; !node.logs.some(isFencingRefusal); attempt++) {
    if (attempt > 5) throw new Error(`no fencing refusal on ${node.name} after ${attempt - 1} stolen locks`);
    const after = Date.now();
    const started = await node.waitForLog(
      (l) => l.event === 'step-started' && Date.parse(String(l.time)) >= after,
      20_000,
    );
    const lock = system.keyspace.shard(Number(started.shard)).jobLock(String(started.job_id));
    await system.store.set(lock, 'taken-over-by-the-test', 'PX', 3000, 'XX');
    await node.waitForLog(isFencingRefusal, 5_000).catch(() => undefined);
  }
}

beforeAll(async () => {
  const env = { REDIS_NODES: redisNodes(), KEY_NAMESPACE: system.config.KEY_NAMESPACE, HEARTBEAT_MS: '200' };
  const nodeEnv = { HEARTBEAT_MS: '200', STEP_FAILURE_RATE: '0.2', COMPENSATION_MS: '20' };
  // node-a's steps are long and its locks longer, so that its lock can be taken inside a step (see
  // provokeFencingRefusal); node-b's steps are short.
  const slow = { STEP_MS: '1500', LOCK_MS: '20000' };
  const starting = NODES.map((id) =>
    spawnWorker(
      id,
      system.config,
      { ...nodeEnv, ...(id === 'node-a' ? slow : { STEP_MS: '100' }) },
      services,
    ),
  );
  nodes.push(...starting);
  const started = await Promise.all([
    spawnApi('api-1', env, services),
    spawnApi('api-2', env, services),
    ...starting.map((n) => n.waitForLog((l) => l.event === 'node-started', 60_000)),
  ]);
  apis = [(started[0] as { url: string }).url, (started[1] as { url: string }).url];

  if (!prometheusMissing) {
    workDir = mkdtempSync(path.join(tmpdir(), 'orderflow-prometheus-'));
    const file = path.join(workDir, 'prometheus.yml');
    const host = (url: string) => new URL(url).host;
    writeFileSync(
      file,
      prometheusConfig({ 'orderflow-api': apis.map(host), 'orderflow-cluster': [host(apis[0]!)] }),
    );
    prometheus = await startPrometheus(file);
    // Service discovery hands Prometheus its first targets up to 5 s after start: the orders below
    // must be seen moving, so they wait for the first scrape of all three targets.
    await waitFor(
      async () => ((await scalar('count(up == 1)')) === 3 ? true : undefined),
      30_000,
      'the first scrape of every target',
    );
  }

  // A steady trickle of orders through both API processes for TRAFFIC_MS, so that Prometheus sees the
  // counters move over many scrapes; with p = 0.2 per step about 60 % of the orders fail.
  const trafficEnds = Date.now() + TRAFFIC_MS;
  let faultDone = false;
  const traffic = (async () => {
    for (let i = 0; Date.now() < trafficEnds || !faultDone; i++) {
      orderIds.push(await place(apis[i % 2]!, `prom-${i}`));
      placedBy[i % 2]! += 1;
      await sleep(250);
    }
  })();
  // Awaited below; until then a failed placement must not count as an unhandled rejection.
  traffic.catch(() => undefined);
  try {
    await provokeFencingRefusal(nodes[0]!);
  } finally {
    faultDone = true;
    await traffic;
  }
  await Promise.all(orderIds.map((id) => system.waitForTerminal(id, 40_000)));
}, 150_000);

afterAll(async () => {
  await prometheus?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  // The processes first: close() deletes the namespace, which a live node would write to again.
  await killAll(services);
  await system.close();
}, 60_000);

describe('GET /metrics?scope= with two API processes on one namespace', () => {
  it('keeps worker series out of scope=process, and gives the same ones from every scope=cluster', async () => {
    for (const [i, url] of apis.entries()) {
      const own = await metricsOf(url, 'process');
      expect(workerSamples(own)).toEqual([]);
      expect([...own.keys()].sort()).toEqual([
        'orderflow_api_ready',
        'orderflow_orders_cancelled_at_once_total',
        'orderflow_orders_placed_total',
      ]);
      expect(sumOf(own, 'orderflow_api_ready')).toBe(1);
      expect(sumOf(own, 'orderflow_orders_placed_total')).toBe(placedBy[i]);
    }
    const [one, two] = await Promise.all(apis.map((url) => metricsOf(url, 'cluster')));
    expect(one!.has('orderflow_orders_placed_total')).toBe(false);
    expect(sumOf(one!, 'orderflow_nodes_alive')).toBe(NODES.length);
    expect(sumOf(one!, 'orderflow_node_step_failure_rate', { node_id: 'node-a' })).toBe(0.2);
    // Both answer every live node's series, read from the store.
    const nodeIds = (f: typeof one) => [...new Set(workerSamples(f!).map((s) => s.labels.node_id))].sort();
    expect(nodeIds(one)).toEqual(NODES);
    expect(nodeIds(two)).toEqual(NODES);
    // Without scope: both, as before (one API process).
    const all = await metricsOf(apis[0]!);
    expect(all.has('orderflow_orders_placed_total') && all.has('orderflow_orders_finished_total')).toBe(true);
    expect((await fetch(`${apis[0]}/metrics?scope=nodes`)).status).toBe(400);
  });
});

describe('a real Prometheus with the shipped scrape jobs and rules', () => {
  it('stores every worker series once: sums over the scrape equal the true counts', async (ctx) => {
    if (prometheusMissing) ctx.skip(prometheusMissing);
    expect(await scalar('count(up{job="orderflow-api"} == 1)')).toBe(2);
    const finished = await waitFor(
      async () => {
        const total = await scalar('sum(orderflow_orders_finished_total)');
        return total === orderIds.length ? total : undefined;
      },
      20_000,
      `sum(orderflow_orders_finished_total) to reach ${orderIds.length}`,
    ).catch(async (error) => {
      throw new Error(`${error.message}; it is ${await scalar('sum(orderflow_orders_finished_total)')}`);
    });
    expect(finished).toBe(orderIds.length);
    // Each node's series once, from the one cluster target.
    for (const series of await query('count by (node_id, outcome) (orderflow_orders_finished_total)'))
      expect(series.value![1], JSON.stringify(series.metric)).toBe('1');
    // Placements are each API process's own: one series per replica, summing to the orders placed.
    expect(await scalar('sum(orderflow_orders_placed_total)')).toBe(orderIds.length);
    expect(await query('orderflow_orders_placed_total')).toHaveLength(2);
    // And the order outcomes against what the store recorded.
    const records = await Promise.all(orderIds.map((id) => system.waitForTerminal(id)));
    const failed = records.filter((o) => o.status === 'failed').length;
    expect(await scalar('sum(orderflow_orders_finished_total{outcome="failed"})')).toBe(failed);
    // node-a's refused writes, counted by node-a, reach Prometheus through the cluster scrape.
    const refusals = nodes[0]!.logs.filter(isFencingRefusal).length;
    await waitFor(
      async () => ((await scalar('sum(orderflow_fencing_refusals_total)')) === refusals ? true : undefined),
      15_000,
      `node-a's ${refusals} fencing refusals to be scraped`,
    );
  });

  it('evaluates every shipped rule without error', async (ctx) => {
    if (prometheusMissing) ctx.skip(prometheusMissing);
    const res = await fetch(`${prometheus!.url}/api/v1/rules`);
    const { data } = (await res.json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const loaded = data.groups.flatMap((g) => g.rules);
    expect(loaded.length).toBeGreaterThanOrEqual(14);
    for (const rule of loaded)
      expect([rule.name, rule.health, rule.lastError ?? '']).toEqual([rule.name, 'ok', '']);
    expect(await scalar('orderflow:nodes_expected')).toBe(NODES.length);
  });

  it("answers every Grafana panel's query with data", async (ctx) => {
    if (prometheusMissing) ctx.skip(prometheusMissing);
    const dashboard = JSON.parse(
      readFileSync(path.join(root, 'dashboards/grafana/orderflow.json'), 'utf8'),
    ) as {
      panels: Array<{ title: string; type: string; targets?: Array<{ expr: string; refId: string }> }>;
    };
    // Steps counted back from now, so that the last one sees everything scraped so far.
    const end = Date.now() / 1000;
    const start = end - STEP_S * Math.floor((end - prometheus!.startedAt) / STEP_S);
    // As Grafana substitutes them for a range query at STEP_S against a datasource scraped every INTERVAL_S.
    const rateInterval = Math.max(STEP_S + INTERVAL_S, 4 * INTERVAL_S);
    const substitute = (expr: string) =>
      expr
        .replace(/\$\{?__rate_interval\}?/g, `${rateInterval}s`)
        .replace(/\$\{?__interval\}?/g, `${STEP_S}s`)
        .replace(/\$\{?__range\}?/g, `${Math.round(end - start)}s`);
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(15);
    const empty: string[] = [];
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const expr = substitute(target.expr);
        expect(expr, `${panel.title} ${target.refId}`).not.toContain('$');
        const { result } = await api(
          `/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${start}&end=${end}&step=${STEP_S}`,
        );
        const values = result.flatMap((s) => s.values ?? []).map(([, v]) => Number(v));
        if (!values.some((v) => Number.isFinite(v))) empty.push(`${panel.title} ${target.refId}: ${expr}`);
      }
    }
    if (empty.length > 0) {
      // What Prometheus saw of the targets over the range, to tell a scrape that failed from a query.
      const seen = await api(
        `/api/v1/query_range?query=${encodeURIComponent('scrape_duration_seconds or up')}&start=${start}&end=${end}&step=1`,
      );
      const scrapes = seen.result.map(
        (r) =>
          `${r.metric.__name__} ${r.metric.job}: ${(r.values ?? []).map(([t, v]) => `${Math.round(t - start)}=${Number(v).toFixed(3)}`).join(' ')}`,
      );
      expect(empty, scrapes.join('\n')).toEqual([]);
    }
  });

  it('puts OrderflowNodesBelowExpected in pending once every worker node is killed', async (ctx) => {
    if (prometheusMissing) ctx.skip(prometheusMissing);
    // Quiet while both nodes live.
    await waitFor(
      async () => ((await alertsNamed('OrderflowNodesBelowExpected')).length === 0 ? true : undefined),
      15_000,
      'the nodes-alive alert to be inactive with both nodes alive',
    );
    expect(await scalar('max(orderflow_nodes_alive)')).toBe(NODES.length);
    for (const node of nodes) node.signal('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    const [alert] = await waitFor(
      async () => {
        const found = await alertsNamed('OrderflowNodesBelowExpected');
        return found.some((a) => a.state === 'pending') ? found : undefined;
      },
      20_000,
      'OrderflowNodesBelowExpected to be pending',
    );
    expect(alert!.labels.severity).toBe('page');
    expect(alert!.annotations.runbook).toBe('docs/OPERATIONS.md#orderflownodesbelowexpected');
    expect(await scalar('ALERTS{alertname="OrderflowNodesBelowExpected", alertstate="pending"}')).toBe(1);
    expect(await scalar('max(orderflow_nodes_alive)')).toBeLessThan(NODES.length);
  });
});
