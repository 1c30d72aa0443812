// Chaos: the seeded fault-injection run (npm run chaos) in its long form, with the checker's verdict.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../scripts/kit/spawn.js';
import { anomalyReport, summaryLines } from '../chaos/report.js';
import { runChaos } from '../chaos/run-chaos.js';
import { summarize } from '../chaos/summary.js';
import type { Scenario } from '../harness/scenario.js';

const SEED = 'bench';

/** Five minutes of every fault kind (one minute with --quick), then the independent checker. */
export const chaosScenario: Scenario = {
  name: 'chaos',
  title:
    'seeded faults (kills, pauses, failover, network) for 5 minutes: lost, stuck, overlapping, duplicated orders',
  estimateS: 420,
  async run(ctx) {
    const { quick, log } = ctx;
    const durationS = quick ? 60 : 300;
    const runDir = path.join(REPO_ROOT, '.data', 'bench', `chaos-${process.pid}`);
    mkdirSync(runDir, { recursive: true });
    const outcome = await runChaos({
      seed: SEED,
      durationS,
      nodes: 3,
      quietS: 60,
      stepMs: 400,
      runDir,
      log,
      signal: new AbortController().signal,
    });
    const summary = summarize(outcome);
    const { check, history } = outcome;
    for (const line of summaryLines(check, history)) log(line);
    if (summary.clean) rmSync(runDir, { recursive: true, force: true });
    else {
      const lines = anomalyReport(check.anomalies, history);
      writeFileSync(path.join(runDir, 'anomalies.txt'), `${lines.join('\n')}\n`);
      writeFileSync(path.join(runDir, 'history.json'), JSON.stringify({ summary, ...history }));
      log(`anomaly histories and logs: ${path.relative(REPO_ROOT, runDir)}/`);
    }
    const c = summary.counts;
    const kinds = Object.entries(summary.faults_by_kind);
    return {
      headline: {
        measure: 'acknowledged orders lost / stuck / overlapping / duplicated under seeded faults',
        orderflow: `${c.lost} / ${c.stuck} / ${c.overlap} / ${c.duplicate} of ${summary.acked}`,
        baseline: '–',
        ratio: '–',
        target: 'no anomaly',
        met: summary.clean,
      },
      tables: [
        {
          title: `Faults injected in ${durationS} s (seed ${SEED}, 3 worker nodes, STEP_MS 400)`,
          columns: ['fault', 'times'],
          rows: kinds.map(([kind, n]) => [kind, String(n)]),
        },
        {
          title: 'What the checker found',
          columns: ['measure', 'value'],
          rows: [
            ['placements (requests)', `${summary.placements} (${summary.requests})`],
            ['orders acknowledged', String(summary.acked)],
            [
              'records by status',
              Object.entries(summary.records)
                .map(([s, n]) => `${s} ${n}`)
                .join(', '),
            ],
            ...Object.entries(c).map(([kind, n]) => [kind, String(n)]),
            ['processes that exited by themselves', String(summary.crashes.length)],
            ['time to terminal after the client stopped', `${check.settled_s.toFixed(1)} s`],
          ],
        },
      ],
      notes: [
        'Every orderflow process and every store node is reached through a fault-injecting TCP proxy (stress/chaos/proxy.ts); the checker (stress/chaos/checker.ts) reads only the API and the store and shares no code with the system.',
        'Lost: answered 202, then no record. Stuck: not terminal 60 s after the faults stopped. Overlapping: two committed executions of one order overlap. Duplicated: one (user, key) with two order ids.',
        'The same schedule replays with `npm run chaos -- --seed bench --duration 300`.',
      ],
      data: summary,
    };
  },
};
