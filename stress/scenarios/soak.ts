// Soak: 10 minutes at 80 % of capacity; API and worker RSS sampled, growth after warm-up must stay < 10 %.
import { withBenchSystem } from '../harness/bench-system.js';
import { fixed, percent, placeLoad } from '../harness/load.js';
import type { BenchProcess } from '../harness/processes.js';
import { growthAfterWarmup, rssOf } from '../harness/rss.js';
import type { Scenario } from '../harness/scenario.js';
import { mastersMemory, waitingSteps } from '../harness/store-reads.js';
import { littleCapacity } from '../report-math.js';

const NODES = 2;
const MB = 1024 * 1024;

/** Open-loop placement at a fixed rate; every `everyMs` the RSS of each process and the backlog. */
export const soakScenario: Scenario = {
  name: 'soak',
  title: '10 minutes at 80 % of capacity: RSS of the API and the worker nodes',
  estimateS: 640,
  async run(ctx) {
    const { quick, log } = ctx;
    const seconds = quick ? 20 : 600;
    const stepMs = ctx.flags.soakStepMs;
    const everyMs = quick ? 1000 : 5000;
    const warmupMs = seconds * 1000 * 0.2;
    const capacity = littleCapacity(NODES, 50, stepMs)!;
    const rate = Math.max(1, Math.floor((0.8 * capacity) / 4));
    return withBenchSystem({ ...ctx, scenario: 'soak' }, async (system) => {
      const ns = system.namespace('soak');
      const keyspace = system.keyspace(ns);
      const api = await system.startApi(ns);
      const nodes = await system.startNodes(ns, NODES, { STEP_MS: String(stepMs) });
      const watched: BenchProcess[] = [api.process, ...nodes];
      const series = new Map(watched.map((p) => [p.name, [] as Array<[number, number]>]));
      const backlog: Array<[number, number]> = [];
      const store: Array<[number, number]> = [];
      const started = Date.now();
      const sampler = setInterval(async () => {
        const t = Date.now() - started;
        for (const p of watched) {
          const rss = await rssOf(p.pid);
          if (rss !== null) series.get(p.name)!.push([t, rss]);
        }
        backlog.push([t, await waitingSteps(system.store, keyspace).catch(() => -1)]);
        store.push([
          t,
          await mastersMemory(system.cluster).then(
            (m) => m.used,
            () => -1,
          ),
        ]);
      }, everyMs);
      log(
        `placing ${rate} orders/s for ${seconds} s (80 % of ${fixed(capacity)} steps/s at 4 steps per order)`,
      );
      const load = await placeLoad(api.url, { durationS: seconds, rate, concurrency: 8, retries: 5 });
      clearInterval(sampler);

      const rows = watched.map((p) => {
        const samples = series.get(p.name)!;
        const g = growthAfterWarmup(samples, warmupMs);
        const peak = Math.max(...samples.map(([, v]) => v));
        // Log names carry the namespace; the table needs only "api" or the node id.
        const label = p === api.process ? 'API' : `worker ${p.name.split('-').slice(0, 2).join('-')}`;
        return { process: label, growth: g, peak };
      });
      const worst = Math.max(...rows.map((r) => r.growth?.growth ?? Number.POSITIVE_INFINITY));
      const lastBacklog = backlog.at(-1)?.[1] ?? -1;
      const p = load.report.placement;
      log(`worst RSS growth ${percent(worst)}; backlog at the end ${lastBacklog}`);
      return {
        headline: {
          measure: `RSS growth after warm-up, ${seconds >= 60 ? `${seconds / 60} min` : `${seconds} s`} at ${rate} orders/s (worst process)`,
          orderflow: percent(worst),
          baseline: '–',
          ratio: '–',
          target: '< 10 %',
          met: worst < 0.1,
        },
        tables: [
          {
            title: `RSS over ${seconds} s, sampled every ${everyMs / 1000} s; warm-up ${fixed(warmupMs / 1000, 0)} s`,
            columns: ['process', 'MB after warm-up', 'MB at the end', 'growth', 'slope MB/min', 'peak MB'],
            rows: rows.map((r) => [
              r.process,
              fixed((r.growth?.start ?? Number.NaN) / MB),
              fixed((r.growth?.end ?? Number.NaN) / MB),
              percent(r.growth?.growth),
              fixed((r.growth?.slope_per_min ?? Number.NaN) / MB, 2),
              fixed(r.peak / MB),
            ]),
          },
          {
            title: 'Load',
            columns: ['measure', 'value'],
            rows: [
              [
                'orders placed',
                `${p.acknowledged} (${fixed(p.acknowledged_per_s)}/s, p99 ${fixed(p.latency_ms.p99)} ms)`,
              ],
              ['refused / errors', `${p.retries.retried} / ${p.error_count}`],
              ['waiting steps: max, at the end', `${Math.max(...backlog.map(([, v]) => v))}, ${lastBacklog}`],
              ['masters used_memory at the end', `${fixed((store.at(-1)?.[1] ?? Number.NaN) / MB)} MB`],
            ],
          },
        ],
        notes: [
          `STEP_MS ${stepMs} (--soak-step-ms to change), failure rate 0.05 and compensation as deployed; ${NODES} nodes × 50 slots.`,
          'Growth compares the medians of the first and the last tenth of the time after warm-up; the store grows by design (records are kept for ORDER_TTL_S).',
        ],
        data: { seconds, stepMs, rate, series: Object.fromEntries(series), backlog, store, placement: p },
      };
    });
  },
};
