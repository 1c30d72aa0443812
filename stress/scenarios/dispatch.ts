// Dispatch: a step's completion → the next step's start at 8 saturated nodes, from the order records.
import { withBenchSystem } from '../harness/bench-system.js';
import { fixed } from '../harness/load.js';
import { runSaturated, type SaturatedRun } from '../harness/saturated-run.js';
import type { Scenario } from '../harness/scenario.js';
import { distribution } from '../report-math.js';

/** Where the next step ran: on the node that ran the previous one, or elsewhere. */
function sameNodeShare(run: SaturatedRun): number {
  let same = 0;
  let total = 0;
  for (const order of run.records) {
    for (let i = 0; i + 1 < order.steps.length; i++) {
      const next = order.steps[i + 1]!.attempts[0];
      if (!next || order.steps[i]!.status !== 'completed') continue;
      total++;
      if (next.node_id === order.steps[i]!.node_id) same++;
    }
  }
  return total ? same / total : 0;
}

/**
 * Two saturations: with a backlog (every slot busy, more waiting, as in production under load) and
 * closed loop (exactly one order per slot), which tells the cost of the hand-over from queueing.
 */
export const dispatchScenario: Scenario = {
  name: 'dispatch',
  title: "a step's completion to the next step's start, nodes saturated",
  estimateS: 90,
  async run(ctx) {
    const { quick, log } = ctx;
    const nodes = quick ? 2 : 8;
    const stepMs = quick ? 1000 : 5000;
    return withBenchSystem({ ...ctx, scenario: 'dispatch' }, async (system) => {
      const windowMs = quick ? 3000 : 20_000;
      const backlog = await runSaturated(system, { nodes, stepMs, windowMs }, log);
      const closed = await runSaturated(system, { nodes, stepMs, windowMs: 0, closedLoop: true }, log);
      const burst = await runSaturated(system, { nodes, stepMs, windowMs, start: 'burst' }, log);
      const rows = [
        { load: 'backlog behind every slot', run: backlog },
        { load: 'one order per slot, no backlog', run: closed },
        { load: 'backlog, every slot started at once', run: burst },
      ].map(({ load, run }) => ({
        load,
        gaps: distribution(run.gaps),
        same_node: sameNodeShare(run),
        steps_per_s: run.steps_per_s,
      }));
      const headline = rows[0]!.gaps;
      log(
        `gaps p50 ${fixed(headline.p50)} p99 ${fixed(headline.p99)} ms (closed loop p99 ${fixed(rows[1]!.gaps.p99)})`,
      );
      return {
        headline: {
          measure: `next-step gap at ${nodes} saturated nodes, p99 (p50)`,
          orderflow: `${fixed(headline.p99)} ms (${fixed(headline.p50)} ms)`,
          baseline: '–',
          ratio: `${fixed(headline.p99 / 15, 1)} × the bound`,
          target: 'p99 ≤ 15 ms',
          met: headline.p99 <= 15,
        },
        tables: [
          {
            title: `${nodes} nodes × 50 slots, STEP_MS ${stepMs}, failures off`,
            columns: [
              'load',
              'gaps',
              'p50 ms',
              'p90 ms',
              'p99 ms',
              'max ms',
              'next step on the same node',
              'steps/s',
            ],
            rows: rows.map((r) => [
              r.load,
              String(r.gaps.count),
              fixed(r.gaps.p50),
              fixed(r.gaps.p90),
              fixed(r.gaps.p99),
              fixed(r.gaps.max),
              `${(r.same_node * 100).toFixed(0)} %`,
              fixed(r.steps_per_s),
            ]),
          },
        ],
        notes: [
          "A gap is the next step's first attempt start minus the previous step's completed_at, both written by the nodes (same machine clock): it holds the completion's one script (the record write inside BullMQ's move to completed, which also moves the parent to wait and fetches it: docs/adr/0023), the gate, and the next run up to its start write (started_at is stamped as that write is built).",
          'The headline is the backlog case: the system is saturated and work is waiting, as under real load. Slots fill over one step (each first order placed at an even rate), as arrivals under steady load spread them.',
          "The last row starts every slot in the same instant (backlog loaded on paused queues, then resumed): equally long steps then end in waves of one completion per slot, and a wave's last step waits for the store to serve the whole wave (two scripts each: the step's completion inside BullMQ's move, the next step's start). That wave never spreads, so it is the worst case after a mass resume, not the steady state.",
        ],
        data: { nodes, stepMs, rows, window: backlog.window },
      };
    });
  },
};
