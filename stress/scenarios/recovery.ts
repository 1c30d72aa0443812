// Recovery: SIGKILL a node holding 50 steps; how long until each of its steps runs again elsewhere,

// with takeover on death (TAKEOVER=registry) and with the lock path alone (TAKEOVER=lock).
import { Redis } from 'ioredis';
import { waitUntil } from '../../scripts/kit/wait.js';
import { configSchema } from '../../shared/config.js';
import { createLiveness } from '../../shared/node-registry.js';
import { type BenchLog, type BenchSystem, withBenchSystem } from '../harness/bench-system.js';
import { fixed, placeLoad } from '../harness/load.js';
import type { Scenario } from '../harness/scenario.js';
import { commandCostDelta, mastersCommandStats, onMasters, readRecords } from '../harness/store-reads.js';
import { recoveryDelays } from '../order-timings.js';
import { distribution } from '../report-math.js';

// orderflow's own defaults, whatever they are tuned to: the scenario measures what users get.
const ours = configSchema.parse({});
const LOCKS = { LOCK_MS: String(ours.LOCK_MS), STALLED_INTERVAL_MS: String(ours.STALLED_INTERVAL_MS) };

const mode = (label: string, env: Record<string, string>) => ({ label, env });
type Mode = ReturnType<typeof mode>;
const REGISTRY = mode(`registry (beat ${ours.LIVENESS_MS} / death ${ours.DEATH_TIMEOUT_MS} ms)`, {
  ...LOCKS,
  TAKEOVER: 'registry',
});
const LOCK = mode(`lock (${ours.LOCK_MS} / ${ours.STALLED_INTERVAL_MS} ms)`, { ...LOCKS, TAKEOVER: 'lock' });
const BULLMQ = mode('BullMQ defaults (lock 30000 / 30000 ms)', {
  TAKEOVER: 'lock',
  LOCK_MS: '30000',
  STALLED_INTERVAL_MS: '30000',
});

const HELD = 50;
/** Steps far longer than any recovery, so the killed node's steps cannot have finished on their own. */
const STEP_MS = 120_000;

/** One kill: a victim takes 50 orders' first steps, a survivor starts idle, the victim is SIGKILLed. */
async function killRound(system: BenchSystem, round: number, mode: Mode, log: BenchLog) {
  const ns = system.namespace(`rec${round}`);
  const keyspace = system.keyspace(ns);
  const env: Record<string, string> = { STEP_MS: String(STEP_MS), STEP_FAILURE_RATE: '0', ...mode.env };
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
  const limitMs = Number(env.LOCK_MS) + 3 * Number(env.STALLED_INTERVAL_MS) + 30_000;
  let delays = recoveryDelays([], victimId, killedAt);
  await waitUntil(
    `the steps of ${victimId} to resume`,
    async () => {
      delays = recoveryDelays((await readRecords(system.store, keyspace, ids)).orders, victimId, killedAt);
      return delays.pending === 0 && delays.resumedMs.length >= HELD;
    },
    limitMs,
    { everyMs: 100 },
  ).catch((error: Error) => log(`round ${round}: ${error.message}`));
  survivor!.signal('SIGKILL');
  await Promise.all([survivor!.exited, api.process.stop()]);
  const d = distribution(delays.resumedMs.map((ms) => ms / 1000));
  log(`${mode.label} round ${round}: ${d.count} resumed, first ${fixed(d.min)} s, worst ${fixed(d.max)} s`);
  const held = delays.resumedMs.length + delays.pending;
  const result = { held, resumed: delays.resumedMs.length, pending: delays.pending };
  return { mode: mode.label, round, ...result, first_s: d.min, median_s: d.p50, worst_s: d.max };
}

type RoundResult = Awaited<ReturnType<typeof killRound>>;
const BEATS = 3000;

/**
 * What takeover costs the store, measured alone: BEATS liveness beats of 16 instances in a row, then
 * CLIENT LIST on every master (run only while some node is late), from INFO commandstats deltas.
 */
async function livenessCost(system: BenchSystem) {
  const liveness = createLiveness(system.store, system.namespace('beat'));
  const beat = { suspectMs: 750, silenceMs: 1000, quietMs: ours.LOCK_MS };
  const before = await mastersCommandStats(system.cluster);
  const started = performance.now();
  for (let i = 0; i < BEATS; i++) await liveness.beat(`bench-${i % 16}@probe`, 'orderflow-bench', beat);
  const roundTripUs = ((performance.now() - started) * 1000) / BEATS;
  // A node keeps about 10 connections to each master (measured: its own, and BullMQ's blocking
  // ones), so CLIENT LIST is timed with as many clients as 16 nodes would have.
  const lists = await onMasters(system.cluster, async (redis, port) => {
    const padding = Array.from({ length: 160 }, () => new Redis({ port, connectionName: 'bench-padding' }));
    try {
      await Promise.all(padding.map((c) => c.ping()));
      for (let i = 0; i < 100; i++) await redis.client('LIST');
      return ((await redis.client('LIST')) as string).trim().split('\n').length;
    } finally {
      for (const c of padding) c.disconnect();
    }
  });
  const delta = commandCostDelta(before, await mastersCommandStats(system.cluster));
  const usOf = (command: string) => {
    const cost = delta.find((c) => c.command === command);
    return cost ? cost.usec / cost.calls : Number.NaN;
  };
  return {
    beatUs: usOf('evalsha'),
    roundTripUs,
    clientListUs: usOf('client|list'),
    clients: Math.max(...lists),
  };
}

const rowOf = (r: RoundResult) => [
  r.mode,
  String(r.round),
  `${r.resumed} / ${r.held}`,
  fixed(r.first_s),
  fixed(r.median_s),
  fixed(r.worst_s),
];
const worst = (rs: RoundResult[]) =>
  rs.length ? Math.max(...rs.map((r) => (r.pending ? Number.POSITIVE_INFINITY : r.worst_s))) : null;

/** Sequential kills per mode; BullMQ's 30 s / 30 s kills run side by side to fit the budget. */
export const recoveryScenario: Scenario = {
  name: 'recovery',
  title: 'SIGKILL a node holding 50 steps: time until they resume elsewhere',
  estimateS: 320,
  async run(ctx) {
    const { quick, log } = ctx;
    const rounds = quick ? 2 : 5;
    const withDefaults = ctx.flags.defaultsBaseline ?? !quick;
    return withBenchSystem({ ...ctx, scenario: 'recovery' }, async (system) => {
      const registry: RoundResult[] = [];
      const lock: RoundResult[] = [];
      // Alternated, so that a machine slowing down during the run hurts both alike.
      for (let round = 1; round <= rounds; round++) {
        registry.push(await killRound(system, round, REGISTRY, log));
        lock.push(await killRound(system, 50 + round, LOCK, log));
      }
      const defaults = withDefaults
        ? await Promise.all(Array.from({ length: rounds }, (_, i) => killRound(system, 101 + i, BULLMQ, log)))
        : [];
      const cost = await livenessCost(system);
      const ourWorst = worst(registry)!;
      const lockWorst = worst(lock)!;
      const beatsPerS = 1000 / ours.LIVENESS_MS;
      return {
        headline: {
          measure: `worst time to resume, ${rounds} kills of a node holding ${HELD} steps (TAKEOVER=registry)`,
          orderflow: `${fixed(ourWorst)} s`,
          baseline: `${fixed(lockWorst)} s (TAKEOVER=lock)${defaults.length ? `; ${fixed(worst(defaults))} s BullMQ defaults` : ''}`,
          ratio: fixed(ourWorst / lockWorst, 2),
          target: 'worst ≤ 3 s',
          met: ourWorst <= 3,
        },
        tables: [
          {
            title:
              'Per kill: seconds from SIGKILL to the start of the next attempt, over the steps the node held',
            columns: ['takeover', 'round', 'resumed / held', 'first s', 'median s', 'worst s'],
            rows: [...registry, ...lock, ...defaults].map(rowOf),
          },
          {
            title: `What takeover costs the store (${BEATS} beats in a row, INFO commandstats of the masters)`,
            columns: ['command', 'when', 'store µs per call', 'per node', 'round trip µs'],
            rows: [
              [
                'liveness beat (one script)',
                `every ${ours.LIVENESS_MS} ms`,
                fixed(cost.beatUs),
                `${fixed(beatsPerS)} calls/s, ${fixed(cost.beatUs * beatsPerS)} µs/s`,
                fixed(cost.roundTripUs, 0),
              ],
              [
                `CLIENT LIST, each master (${cost.clients} clients)`,
                'while a node is late',
                fixed(cost.clientListUs),
                '–',
                '–',
              ],
            ],
          },
        ],
        notes: [
          'The times come from the order records: the killed attempt stays in the history, the next attempt records its node and start.',
          'Each kill uses its own namespace, API and pair of nodes: a victim that took every first step, and a survivor that started idle. Registry and lock kills alternate.',
          'With TAKEOVER=registry the survivor sees the victim silent past 1.5 beats and its connections gone from CLIENT LIST, claims its cleanup, releases its locks and runs the stalled check at once; with TAKEOVER=lock the locks must expire first.',
          withDefaults
            ? 'The BullMQ-defaults kills (TAKEOVER=lock, 30 s / 30 s) run side by side (recovery waits on timers, not CPU), so that baseline costs about two minutes instead of eight.'
            : 'The BullMQ-defaults baseline was not run (quick mode or --skip-defaults-baseline); earlier runs measured 59.8–60.1 s for it (stress/results/RESULTS.md).',
          'The beat is one script in the {registry} slot (a ZADD, a clock HSET, a ZRANGEBYSCORE of the silent); a claim and one release script per shard run only when a node died.',
        ],
        data: { held: HELD, stepMs: STEP_MS, registry, lock, defaults, liveness_cost: cost },
      };
    });
  },
};
