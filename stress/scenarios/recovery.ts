// Recovery: SIGKILL a node holding 50 steps; how long until each of its steps runs again elsewhere.
import { configSchema } from '../../shared/config.js';
import { type BenchLog, type BenchSystem, startBenchSystem } from '../harness/bench-system.js';
import { fixed, placeLoad } from '../harness/load.js';
import type { Scenario } from '../harness/scenario.js';
import { readRecords } from '../harness/store-reads.js';
import { waitUntil } from '../harness/wait.js';
import { recoveryDelays } from '../order-timings.js';
import { distribution } from '../report-math.js';

// orderflow's own defaults, whatever they are tuned to: the scenario measures what users get.
const ourConfig = configSchema.parse({});
const OURS = { lockMs: ourConfig.LOCK_MS, stalledMs: ourConfig.STALLED_INTERVAL_MS };

const HELD = 50;
/** Steps far longer than any recovery, so the killed node's steps cannot have finished on their own. */
const STEP_MS = 120_000;

interface RoundResult {
  round: number;
  held: number;
  resumed: number;
  pending: number;
  first_s: number;
  median_s: number;
  worst_s: number;
}

/** One kill: a victim takes 50 orders' first steps, a survivor starts idle, the victim is SIGKILLed. */
async function killRound(
  system: BenchSystem,
  round: number,
  lock: { lockMs: number; stalledMs: number },
  log: BenchLog,
): Promise<RoundResult> {
  const ns = system.namespace(`rec${round}`);
  const keyspace = system.keyspace(ns);
  const env = {
    STEP_MS: String(STEP_MS),
    STEP_FAILURE_RATE: '0',
    LOCK_MS: String(lock.lockMs),
    STALLED_INTERVAL_MS: String(lock.stalledMs),
  };
  const api = await system.startApi(ns);
  const [victim] = await system.startNodes(ns, 1, env, { prefix: `victim${round}` });
  const victimId = `victim${round}-1`;
  const { ids } = await placeLoad(api.url, { orders: HELD, concurrency: 10 });
  const runningOn = async (node: string) => {
    const { orders } = await readRecords(system.store, keyspace, ids);
    return orders.filter((o) =>
      o.steps.some((s) => s.attempts.some((a) => a.node_id === node && a.outcome === 'running')),
    ).length;
  };
  await waitUntil(
    `${victimId} to run ${HELD} steps`,
    async () => (await runningOn(victimId)) >= HELD,
    30_000,
  );
  const [survivor] = await system.startNodes(ns, 1, env, { prefix: `survivor${round}` });

  const killedAt = Date.now();
  victim!.signal('SIGKILL');
  await victim!.exited;
  const limitMs = lock.lockMs + 3 * lock.stalledMs + 30_000;
  let delays = recoveryDelays([], victimId, killedAt);
  await waitUntil(
    `the steps of ${victimId} to resume`,
    async () => {
      delays = recoveryDelays((await readRecords(system.store, keyspace, ids)).orders, victimId, killedAt);
      return delays.pending === 0 && delays.resumedMs.length >= HELD;
    },
    limitMs,
    250,
  ).catch((error: Error) => log(`round ${round}: ${error.message}`));
  survivor!.signal('SIGKILL');
  await Promise.all([survivor!.exited, api.process.stop()]);
  const d = distribution(delays.resumedMs.map((ms) => ms / 1000));
  log(
    `round ${round} (lock ${lock.lockMs / 1000} s): ${d.count} resumed, first ${fixed(d.min)} s, worst ${fixed(d.max)} s`,
  );
  return {
    round,
    held: delays.resumedMs.length + delays.pending,
    resumed: delays.resumedMs.length,
    pending: delays.pending,
    first_s: d.min,
    median_s: d.p50,
    worst_s: d.max,
  };
}

const rowOf = (label: string, r: RoundResult) => [
  label,
  String(r.round),
  `${r.resumed} / ${r.held}`,
  fixed(r.first_s),
  fixed(r.median_s),
  fixed(r.worst_s),
];

/** orderflow's lock settings, sequential kills; BullMQ's 30 s / 30 s, kills run side by side to fit the budget. */
export const recoveryScenario: Scenario = {
  name: 'recovery',
  title: 'SIGKILL a node holding 50 steps: time until they resume elsewhere',
  estimateS: 200,
  async run(ctx) {
    const { quick, log } = ctx;
    const rounds = quick ? 2 : 5;
    const withDefaults = ctx.flags.defaultsBaseline ?? !quick;
    const system = await startBenchSystem('recovery', ctx);
    try {
      const ours: RoundResult[] = [];
      for (let round = 1; round <= rounds; round++) {
        ours.push(await killRound(system, round, OURS, log));
      }
      const defaults = withDefaults
        ? await Promise.all(
            Array.from({ length: rounds }, (_, i) =>
              killRound(system, 100 + i + 1, { lockMs: 30_000, stalledMs: 30_000 }, log),
            ),
          )
        : [];
      const worst = (rs: RoundResult[]) =>
        Math.max(...rs.map((r) => (r.pending ? Number.POSITIVE_INFINITY : r.worst_s)));
      const ourWorst = worst(ours);
      const baseWorst = defaults.length ? worst(defaults) : null;
      return {
        headline: {
          measure: `worst time to resume, ${rounds} kills of a node holding ${HELD} steps`,
          orderflow: `${fixed(ourWorst)} s`,
          baseline: baseWorst === null ? 'not run' : `${fixed(baseWorst)} s (BullMQ defaults)`,
          ratio: baseWorst === null ? '–' : fixed(ourWorst / baseWorst, 2),
          target: 'worst ≤ 10 s',
          met: ourWorst <= 10,
        },
        tables: [
          {
            title:
              'Per kill: seconds from SIGKILL to the start of the next attempt, over the steps the node held',
            columns: ['locks', 'round', 'resumed / held', 'first s', 'median s', 'worst s'],
            rows: [
              ...ours.map((r) => rowOf(`orderflow defaults (${OURS.lockMs} / ${OURS.stalledMs})`, r)),
              ...defaults.map((r) => rowOf('BullMQ defaults (30000 / 30000)', r)),
            ],
          },
        ],
        notes: [
          'The times come from the order records: the killed attempt stays in the history, the next attempt records its node and start.',
          'Each kill uses its own namespace, API and pair of nodes: a victim that took every first step, and a survivor that started idle.',
          withDefaults
            ? 'The BullMQ-defaults kills run side by side (recovery waits on timers, not CPU), so the baseline costs about two minutes instead of eight.'
            : 'The BullMQ-defaults baseline was not run (quick mode or --skip-defaults-baseline); earlier runs measured 59.8–60.1 s for it (stress/results/RESULTS.md).',
        ],
        data: { held: HELD, stepMs: STEP_MS, orderflow: ours, defaults },
      };
    } finally {
      await system.close();
    }
  },
};
