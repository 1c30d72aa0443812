// Placement: POST /orders at 50 connections against orderflow's API and a bare FlowProducer endpoint.
import { withBenchSystem } from '../harness/bench-system.js';
import { fixed, placeLoad } from '../harness/load.js';
import { cpuSecondsOf } from '../harness/rss.js';
import type { Scenario } from '../harness/scenario.js';
import { median } from '../report-math.js';
import type { StressReport } from '../stress-report.js';

const CONNECTIONS = 50;

interface Round {
  target: 'orderflow' | 'baseline';
  requests_per_s: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  non_2xx: number;
  /** CPU the endpoint's process spent per answered request, ms. */
  server_cpu_ms: number | null;
}

const roundOf = (target: Round['target'], r: StressReport, cpuS: number | null): Round => ({
  target,
  requests_per_s: r.placement.requests_per_s,
  p50: r.placement.latency_ms.p50,
  p99: r.placement.latency_ms.p99,
  max: r.placement.latency_ms.max,
  errors: r.placement.error_count,
  non_2xx: r.placement.non_2xx,
  server_cpu_ms: cpuS === null || r.placement.answered === 0 ? null : (cpuS * 1000) / r.placement.answered,
});

/** POST /orders vs the bare endpoint, alternating A B B A so drift of a noisy machine hits both alike. */
export const placementScenario: Scenario = {
  name: 'placement',
  title: 'POST /orders vs a bare Hono + FlowProducer endpoint',
  estimateS: 60,
  async run(ctx) {
    const { quick, log } = ctx;
    return withBenchSystem({ ...ctx, scenario: 'placement' }, async (system) => {
      const api = await system.startApi(system.namespace('place'));
      const bare = await system.startBareFlowServer(system.namespace('bare'));
      const urls = { orderflow: api.url, baseline: bare.url };
      const pids = { orderflow: api.process.pid, baseline: bare.process.pid };
      const seconds = quick ? 3 : 10;
      for (const target of ['orderflow', 'baseline'] as const) {
        log(`warm-up ${target}`);
        await placeLoad(urls[target], { durationS: quick ? 1 : 3, concurrency: CONNECTIONS, retries: 0 });
      }
      const order: Round['target'][] = quick
        ? ['orderflow', 'baseline']
        : ['orderflow', 'baseline', 'baseline', 'orderflow'];
      const rounds: Round[] = [];
      for (const target of order) {
        const cpuBefore = await cpuSecondsOf(pids[target]);
        const { report } = await placeLoad(urls[target], {
          durationS: seconds,
          concurrency: CONNECTIONS,
          retries: 0,
        });
        const cpuAfter = await cpuSecondsOf(pids[target]);
        const cpuS = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
        rounds.push(roundOf(target, report, cpuS));
        log(
          `${target}: ${fixed(report.placement.requests_per_s)} req/s, p99 ${fixed(report.placement.latency_ms.p99)} ms`,
        );
      }
      const of = (t: Round['target']) => rounds.filter((r) => r.target === t);
      const rps = (t: Round['target']) => median(of(t).map((r) => r.requests_per_s));
      const p99 = (t: Round['target']) => median(of(t).map((r) => r.p99));
      const errors = of('orderflow').reduce((a, r) => a + r.errors + r.non_2xx, 0);
      const ratio = rps('orderflow') / rps('baseline');
      const cpuMs = (t: Round['target']) => median(of(t).map((r) => r.server_cpu_ms ?? Number.NaN));
      const met = ratio >= 0.85 && p99('orderflow') <= 25 && errors === 0;
      return {
        headline: {
          measure: `requests/s at ${CONNECTIONS} connections (p99)`,
          orderflow: `${fixed(rps('orderflow'))} (p99 ${fixed(p99('orderflow'))} ms, ${errors} errors)`,
          baseline: `${fixed(rps('baseline'))} (p99 ${fixed(p99('baseline'))} ms)`,
          ratio: fixed(ratio, 2),
          target: '≥ 0.85, p99 ≤ 25 ms, 0 errors',
          met,
        },
        tables: [
          {
            title: `Rounds of ${seconds} s each, in the order run`,
            columns: [
              'target',
              'req/s',
              'p50 ms',
              'p99 ms',
              'max ms',
              'errors',
              'non-2xx',
              'server CPU ms/req',
            ],
            rows: rounds.map((r) => [
              r.target,
              fixed(r.requests_per_s),
              fixed(r.p50),
              fixed(r.p99),
              fixed(r.max),
              String(r.errors),
              String(r.non_2xx),
              fixed(r.server_cpu_ms, 2),
            ]),
          },
        ],
        notes: [
          'Both endpoints run as their own process on the same cluster; autocannon runs in the bench process.',
          'orderflow runs as deployed (LOG_LEVEL info, WAIT_REPLICAS 1): validation, idempotency key, record and index in the same MULTI as the chain, WAIT for a replica, one request log line.',
          'The baseline parses the body and calls FlowProducer.add with the same chain, nothing else.',
          'Figures are the median of the rounds of each target.',
          `Server CPU per request (the endpoint process's user + system time over a round): orderflow ${fixed(cpuMs('orderflow'), 2)} ms, baseline ${fixed(cpuMs('baseline'), 2)} ms. Each endpoint is one Node process, so its CPU per request bounds its rate: the steadier figure on a shared machine.`,
        ],
        data: { rounds, seconds, connections: CONNECTIONS },
      };
    });
  },
};
