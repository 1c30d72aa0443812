// The shipped alert rules, Prometheus config and Grafana dashboard: promtool's checks and unit tests,
// every runbook anchor present in docs/OPERATIONS.md, every metric they read one the code exports.
// The promtool cases skip themselves, saying so, where promtool is not installed (.ci/run installs it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createApiMetrics, createNodeMetrics } from '../../shared/metrics.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const promtoolMissing =
  spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0
    ? null
    : 'promtool is not on PATH (Debian: apt-get install prometheus; .ci/run installs it)';

function promtool(args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (
  parse(read('dashboards/prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  params?: Record<string, string[]>;
  static_configs?: { targets: string[] }[];
  dns_sd_configs?: { names: string[]; port: number }[];
}
const promConfig = parse(read('dashboards/prometheus/prometheus.yml')) as {
  global: Record<string, string>;
  rule_files: string[];
  scrape_configs: ScrapeConfig[];
};

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
const dashboard = JSON.parse(read('dashboards/grafana/orderflow.json')) as {
  id: unknown;
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: string }> };
};

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
const operationsAnchors = new Set(
  read('docs/OPERATIONS.md')
    .split('\n')
    .flatMap((line) => {
      const heading = /^#{1,6} (.+)$/.exec(line)?.[1];
      return heading ? [anchorOf(heading)] : [];
    }),
);

/** Every sample name the API and a worker node export: histograms as their _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const registry of [createApiMetrics().registry, createNodeMetrics('n').registry]) {
    for (const metric of await registry.getMetricsAsJSON()) {
      // prom-client types it as an enum; the JSON holds the Prometheus type name.
      if (String(metric.type) === 'histogram') {
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
      } else names.add(metric.name);
    }
  }
  return names;
}
/** What every panel's data source is: the dashboard's `datasource` variable, spelled as Grafana writes it. */
const DATASOURCE_VARIABLE = ['$', '{datasource}'].join('');
const metricNamesIn = (expr: string) => [...expr.matchAll(/\borderflow_\w+/g)].map((m) => m[0]);

describe('dashboards/prometheus/alerts.yml', () => {
  it('passes promtool check rules', (ctx) => {
    if (promtoolMissing) ctx.skip(promtoolMissing);
    const { status, output } = promtool(['check', 'rules', 'dashboards/prometheus/alerts.yml']);
    expect(output).toContain('SUCCESS');
    expect(status, output).toBe(0);
  });

  it('passes its unit tests (promtool test rules alerts.test.yml)', (ctx) => {
    if (promtoolMissing) ctx.skip(promtoolMissing);
    const { status, output } = promtool(['test', 'rules', 'dashboards/prometheus/alerts.test.yml']);
    expect(output).toContain('SUCCESS');
    expect(status, output).toBe(0);
  });

  it('has a unit test seeing each alert fire, and one where it stays quiet', () => {
    const tests = parse(read('dashboards/prometheus/alerts.test.yml')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alerts) {
      const own = cases.filter((c) => c.alertname === alert);
      expect(
        own.some((c) => c.exp_alerts.length > 0),
        `${alert} fires in a test`,
      ).toBe(true);
      expect(
        own.some((c) => c.exp_alerts.length === 0),
        `${alert} stays quiet in a test`,
      ).toBe(true);
    }
  });

  it('covers the issue: nodes, backlog, failure rate, fencing, stalls, placements, API readiness', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'OrderflowNodesBelowExpected',
        'OrderflowBacklogGrowing',
        'OrderflowFailureRateHigh',
        'OrderflowFencingRefusal',
        'OrderflowStalledRecoveries',
        'OrderflowNoPlacements',
        'OrderflowApiNotReady',
      ]),
    );
    // The deployment's parameters are recording rules the alerts read.
    expect(recorded).toContain('orderflow:nodes_expected');
    expect(recorded).toContain('orderflow:traffic_expected');
  });

  it('gives every alert a severity, a summary, a description and a runbook in docs/OPERATIONS.md', () => {
    expect(operationsAnchors).toContain('alerts-and-runbooks');
    for (const alert of alerts) {
      expect(['page', 'warning', 'info'], alert.alert).toContain(alert.labels?.severity);
      expect(alert.annotations?.summary, alert.alert).toBeTruthy();
      expect(alert.annotations?.description, alert.alert).toBeTruthy();
      const runbook = /^docs\/OPERATIONS\.md#(.+)$/.exec(alert.annotations?.runbook ?? '');
      expect(runbook, `${alert.alert}: runbook`).not.toBeNull();
      expect(operationsAnchors, `${alert.alert}: #${runbook![1]}`).toContain(runbook![1]);
      expect(runbook![1]).toBe(alert.alert!.toLowerCase());
    }
  });

  it('reads only metrics the code exports, rules it records and jobs prometheus.yml scrapes', async () => {
    const exported = await exportedNames();
    const jobs = promConfig.scrape_configs.map((s) => s.job_name);
    for (const rule of rules) {
      for (const name of metricNamesIn(rule.expr))
        expect(exported, rule.alert ?? rule.record).toContain(name);
      for (const name of rule.expr.match(/\borderflow:[\w:]+/g) ?? []) expect(recorded).toContain(name);
      for (const [, job] of rule.expr.matchAll(/job="([^"]+)"/g)) expect(jobs).toContain(job);
    }
  });
});

describe('dashboards/prometheus/prometheus.yml', () => {
  it('passes promtool check config, with the rules where compose.yaml mounts them', (ctx) => {
    if (promtoolMissing) ctx.skip(promtoolMissing);
    expect(promConfig.rule_files).toEqual(['/etc/prometheus/orderflow/alerts.yml']);
    // The same file with the rule path of this checkout instead of the container's.
    const dir = mkdtempSync(path.join(tmpdir(), 'orderflow-promcheck-'));
    try {
      const file = path.join(dir, 'prometheus.yml');
      writeFileSync(
        file,
        read('dashboards/prometheus/prometheus.yml').replace(
          '/etc/prometheus/orderflow/alerts.yml',
          path.join(root, 'dashboards/prometheus/alerts.yml'),
        ),
      );
      const { status, output } = promtool(['check', 'config', file]);
      expect(status, output).toBe(0);
      expect(output).toContain('SUCCESS: 1 rule files found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("scrapes every API replica for its own series, and the nodes' series once", () => {
    const jobs = Object.fromEntries(promConfig.scrape_configs.map((s) => [s.job_name, s]));
    expect(Object.keys(jobs).sort()).toEqual(['orderflow-api', 'orderflow-cluster']);
    const api = jobs['orderflow-api']!;
    expect(api.params).toEqual({ scope: ['process'] });
    expect(api.dns_sd_configs).toEqual([expect.objectContaining({ names: ['api'], port: 3000 })]);
    const cluster = jobs['orderflow-cluster']!;
    expect(cluster.params).toEqual({ scope: ['cluster'] });
    // One target, the service name: whichever replica answers, the series are the same ones.
    expect(cluster.static_configs).toEqual([{ targets: ['api:3000'] }]);
    expect(cluster.dns_sd_configs).toBeUndefined();
    for (const job of [api, cluster]) expect(job.metrics_path ?? '/metrics').toBe('/metrics');
  });
});

describe('dashboards/grafana/orderflow.json', () => {
  const panels = dashboard.panels;
  const queried = panels.filter((p) => p.type !== 'row');

  it('is a dashboard Grafana imports as is: no id, a uid, schema 39, a Prometheus data source variable', () => {
    expect(dashboard.id).toBeNull();
    expect(dashboard.uid).toBe('orderflow');
    expect(dashboard.title).toBe('orderflow');
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of queried) {
      expect(['stat', 'timeseries'], panel.title).toContain(panel.type);
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: DATASOURCE_VARIABLE });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      const refIds = panel.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      for (const t of panel.targets!) expect(t.datasource, panel.title).toEqual(panel.datasource);
    }
  });

  it('lays its panels out on the 24-column grid without overlaps', () => {
    const cells = new Map<string, string>();
    for (const { title, gridPos: g } of panels) {
      expect(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, title).toBe(true);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const cell = `${x},${y}`;
          expect(cells.get(cell), `${title} overlaps ${cells.get(cell)}`).toBeUndefined();
          cells.set(cell, title);
        }
      }
    }
  });

  it('shows what the issue asks for, reading only exported metrics and recorded rules', async () => {
    const titles = queried.map((p) => p.title);
    for (const title of [
      'Throughput',
      'Failure rate against the expected 1 − (1 − p)⁴',
      'Step duration percentiles by step',
      'Queue wait percentiles by step',
      'Backlog by shard',
      'Active steps and slots by node',
      'Stalled recoveries',
      'Fencing refusals',
      'Nodes alive',
    ]) {
      expect(titles).toContain(title);
    }
    const exported = await exportedNames();
    const builtins = new Set(['__rate_interval', '__interval', '__range']);
    for (const panel of queried) {
      for (const { expr } of panel.targets!) {
        for (const name of metricNamesIn(expr)) expect(exported, panel.title).toContain(name);
        for (const name of expr.match(/\borderflow:[\w:]+/g) ?? []) expect(recorded).toContain(name);
        for (const [, variable] of expr.matchAll(/\$\{?(\w+)/g))
          expect(builtins, panel.title).toContain(variable);
      }
    }
    // p comes from the nodes themselves, not a constant typed into the dashboard.
    const failure = queried.find((p) => p.title.startsWith('Failure rate'))!;
    expect(failure.targets!.map((t) => t.expr)).toContain(
      '1 - (1 - avg(orderflow_node_step_failure_rate)) ^ 4',
    );
  });
});

describe('dashboards/grafana/provisioning', () => {
  it("gives Grafana the compose Prometheus as its default data source, at Prometheus's scrape interval", () => {
    const { datasources } = parse(read('dashboards/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: Array<{
        type: string;
        url: string;
        isDefault: boolean;
        jsonData: { timeInterval: string };
      }>;
    };
    expect(datasources).toHaveLength(1);
    expect(datasources[0]).toMatchObject({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      isDefault: true,
    });
    // $__rate_interval is built from it: it must be the interval Prometheus actually scrapes at.
    expect(datasources[0]!.jsonData.timeInterval).toBe(promConfig.global.scrape_interval);
  });

  it('loads the dashboard from the directory compose.yaml mounts it in', () => {
    const { providers } = parse(read('dashboards/grafana/provisioning/dashboards/orderflow.yml')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(providers).toHaveLength(1);
    expect(providers[0]!.type).toBe('file');
    const compose = parse(read('compose.yaml'), { merge: true }) as {
      services: Record<string, { volumes?: string[] }>;
    };
    expect(compose.services.grafana?.volumes).toContain(
      `./dashboards/grafana/orderflow.json:${providers[0]!.options.path}/orderflow.json:ro`,
    );
  });
});
