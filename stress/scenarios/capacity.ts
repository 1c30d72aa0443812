// Capacity: N worker nodes kept saturated with real steps, against Little's law N × 50 / STEP_MS.
import { withBenchSystem } from '../harness/bench-system.js';
import { fixed, percent } from '../harness/load.js';
import { runSaturated } from '../harness/saturated-run.js';
import type { Scenario } from '../harness/scenario.js';
import { distribution } from '../report-math.js';

/** Measures each N on a fresh namespace of the same cluster, smallest first. */
export const capacityScenario: Scenario = {
  name: 'capacity',
  title: "saturated nodes with real steps vs Little's law",
  estimateS: 280,
  async run(ctx) {
    const { quick, log } = ctx;
    const counts = quick ? [1, 2] : [1, 2, 4, 8, 16];
    const stepMs = quick ? 1000 : 5000;
    const windowMs = quick ? 3000 : 30_000;
    return withBenchSystem({ ...ctx, scenario: 'capacity' }, async (system) => {
      const rows = [];
      for (const nodes of counts) {
        const run = await runSaturated(system, { nodes, stepMs, windowMs }, log);
        const gaps = distribution(run.gaps);
        log(
          `N=${nodes}: ${fixed(run.steps_per_s)} of ${fixed(run.capacity_steps_per_s)} steps/s (${percent(run.ratio)})`,
        );
        rows.push({
          nodes,
          slots: run.slots,
          orders: run.orders,
          capacity_steps_per_s: run.capacity_steps_per_s,
          steps_per_s: run.steps_per_s,
          ratio: run.ratio,
          gap_p50_ms: gaps.p50,
          gap_p99_ms: gaps.p99,
          startup_s: run.startup_s,
        });
      }
      const worst = rows.reduce((a, r) => (r.ratio < a.ratio ? r : a), rows[0]!);
      return {
        headline: {
          measure: `steps/s at N = ${counts.join(', ')} nodes, ${stepMs / 1000} s steps (worst N)`,
          orderflow: `${fixed(worst.steps_per_s)} at N=${worst.nodes}`,
          baseline: `${fixed(worst.capacity_steps_per_s)} (Little's law)`,
          ratio: `${fixed(worst.ratio, 3)} (${rows.map((r) => fixed(r.ratio, 3)).join(' / ')})`,
          target: '≥ 0.97 at every N',
          met: rows.every((r) => r.ratio >= 0.97),
        },
        tables: [
          {
            title: `Saturated for ${windowMs / 1000} s per N, STEP_MS ${stepMs}, 50 slots per node`,
            columns: [
              'nodes',
              'slots',
              "Little's law steps/s",
              'measured steps/s',
              'ratio',
              'next-step gap p50 / p99 ms',
              'orders',
              'node start-up s',
            ],
            rows: rows.map((r) => [
              String(r.nodes),
              String(r.slots),
              fixed(r.capacity_steps_per_s),
              fixed(r.steps_per_s, 2),
              fixed(r.ratio, 3),
              `${fixed(r.gap_p50_ms)} / ${fixed(r.gap_p99_ms)}`,
              String(r.orders),
              fixed(r.startup_s),
            ]),
          },
        ],
        notes: [
          'Throughput is read from the order records: each step run counts by the fraction of it inside the window, so a wave of equally long steps ending at the window edge does not make the figure jump.',
          "Slots fill over one step (each slot's first order placed at an even rate, as steady arrivals spread them), then the backlog is placed; the window starts once both are done and ends before the backlog can run out; failures are off so no slot spends time compensating.",
          'Losses against the bound come from the time between a slot freeing and its next step starting, and from the record writes around each step.',
        ],
        data: { stepMs, windowMs, rows },
      };
    });
  },
};
