// Placement: POST /orders at 50 connections against orderflow's API and a bare FlowProducer endpoint,
// three interleaved rounds a side, reported as medians with their spread.
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

/** Full mode: three rounds a side, interleaved so that a drift of the machine reaches both alike. */
const FULL_ORDER: Round['target'][] = [
  'orderflow',
  'baseline',
  'baseline',
  'orderflow',
  'orderflow',
  'baseline',
];

/** The median of `values` and their spread, as `median (min–max)`. */
function spreadOf(values: number[]): { median: number; min: number; max: number } {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}
const withSpread = (s: { median: number; min: number; max: number }, digits = 1) =>
  `${fixed(s.median, digits)} (${fixed(s.min, digits)}–${fixed(s.max, digits)})`;

/** POST /orders vs the bare endpoint, three rounds a side interleaved A B B A A B; medians with their spread. */
export const placementScenario: Scenario = {
  name: 'placement',
  title: 'POST /orders vs a bare Hono + FlowProducer endpoint',
  estimateS: 80,
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
      const order: Round['target'][] = quick ? ['orderflow', 'baseline'] : FULL_ORDER;
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
      const sides = (['orderflow', 'baseline'] as const).map((target) => {
        const own = of(target);
        const cpu = own.map((r) => r.server_cpu_ms).filter((ms): ms is number => ms !== null);
        return {
          target,
          rounds: own.length,
          requests_per_s: spreadOf(own.map((r) => r.requests_per_s)),
          p99: spreadOf(own.map((r) => r.p99)),
          errors: own.reduce((a, r) => a + r.errors + r.non_2xx, 0),
          server_cpu_ms: cpu.length ? spreadOf(cpu) : null,
        };
      });
      const [orderflow, baseline] = sides as [(typeof sides)[0], (typeof sides)[0]];
      const ratio = orderflow.requests_per_s.median / baseline.requests_per_s.median;
      const cpuRatio =
        orderflow.server_cpu_ms && baseline.server_cpu_ms
          ? orderflow.server_cpu_ms.median / baseline.server_cpu_ms.median
          : Number.NaN;
      const errors = orderflow.errors;
      const met = ratio >= 0.85 && orderflow.p99.median <= 25 && errors === 0;
      return {
        headline: {
          measure: `requests/s at ${CONNECTIONS} connections, median of ${orderflow.rounds} round${orderflow.rounds === 1 ? '' : 's'} (p99); API CPU per request`,
          orderflow: `${fixed(orderflow.requests_per_s.median)} (p99 ${fixed(orderflow.p99.median)} ms, ${errors} errors); ${fixed(orderflow.server_cpu_ms?.median, 2)} ms`,
          baseline: `${fixed(baseline.requests_per_s.median)} (p99 ${fixed(baseline.p99.median)} ms); ${fixed(baseline.server_cpu_ms?.median, 2)} ms`,
          ratio: `${fixed(ratio, 2)}; CPU ${fixed(cpuRatio, 2)}×`,
          target: '≥ 0.85, p99 ≤ 25 ms, 0 errors',
          met,
        },
        tables: [
          {
            title: `Per side: median of its rounds (min–max over them)`,
            columns: ['target', 'rounds', 'req/s', 'p99 ms', 'errors + non-2xx', 'server CPU ms/req'],
            rows: sides.map((side) => [
              side.target,
              String(side.rounds),
              withSpread(side.requests_per_s),
              withSpread(side.p99),
              String(side.errors),
              side.server_cpu_ms ? withSpread(side.server_cpu_ms, 2) : '–',
            ]),
          },
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
          "orderflow runs as deployed (LOG_LEVEL info, WAIT_REPLICAS 1): validation, then one MULTI holding the idempotency key's claim, the record, its index and the chain (docs/adr/0022), WAIT for a replica, one request log line.",
          'The baseline parses the body and calls FlowProducer.add with the same chain, nothing else.',
          `Rounds alternate ${order.map((t) => (t === 'orderflow' ? 'A' : 'B')).join(' ')} (A orderflow, B baseline), so a drift of a shared machine reaches both sides alike; the headline and the ratio are of the medians, the spread is each side's min–max.`,
          "Server CPU per request: the endpoint process's user + system time over a round, per answered request. Each endpoint is one Node process, so its CPU per request bounds its rate: the steadier figure on a shared machine.",
        ],
        data: { rounds, sides, ratio, cpu_ratio: cpuRatio, seconds, connections: CONNECTIONS },
      };
    });
  },
};
