// Scale on paper, measured: what idle and busy worker nodes cost the store (connections, commands/s) at N nodes.
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../shared/config.js';
import type { BenchSystem } from '../harness/bench-system.js';
import { withBenchSystem } from '../harness/bench-system.js';
import { CLIENT_KINDS, clientCensus, type NodeClients } from '../harness/client-census.js';
import { fixed, placeLoad } from '../harness/load.js';
import { fitLine, perNode } from '../harness/scale-math.js';
import type { Scenario } from '../harness/scenario.js';
import { completedJobs } from '../harness/store-reads.js';
import { clientListCost, mastersTotal, storeOver } from '../harness/store-window.js';
import { extrapolationTable, scaleInputs } from './scale-extrapolation.js';
import { scaleTables } from './scale-report.js';

/** Orders per second per busy node: 10 steps/s, what a saturated node does at the default 5 s steps. */
const BUSY_ORDERS_PER_NODE_S = 2.5;
const NODE_ENV = { STEP_MS: '1000', STEP_FAILURE_RATE: '0' };

/** What the API alone costs the masters: commands/s idle, and commands per order it places. */
async function calibrateApi(system: BenchSystem, idleMs: number, orders: number) {
  const ns = system.namespace('scaleapi');
  const before = await clientCensus(system.cluster);
  const api = await system.startApi(ns);
  await sleep(2000);
  const after = await clientCensus(system.cluster);
  const idle = await storeOver(system.cluster, () => sleep(idleMs));
  const idleRate = mastersTotal(idle.masters).calls / idle.seconds;
  const placing = await storeOver(system.cluster, () => placeLoad(api.url, { orders, concurrency: 16 }));
  const placed = placing.result.ids.length;
  const perOrder = (mastersTotal(placing.masters).calls - idleRate * placing.seconds) / placed;
  await api.process.stop();
  const connections = after.reduce((a, m, i) => a + m.byKind.api - (before[i]?.byKind.api ?? 0), 0);
  return { idleRate, perOrder, connections };
}

/** Clients added per node on each store node, by kind, between two censuses. */
function addedPerNode(before: NodeClients[], after: NodeClients[], nodes: number) {
  return after.map((m) => {
    const was = before.find((b) => b.port === m.port);
    const kinds = Object.fromEntries(
      CLIENT_KINDS.map((k) => [k, perNode(was?.byKind[k] ?? 0, m.byKind[k], nodes) ?? 0]),
    );
    return {
      port: m.port,
      role: m.role,
      clients: m.total,
      blocked: m.blocked,
      last_commands: m.lastCommands,
      perNode: kinds as Record<(typeof CLIENT_KINDS)[number], number>,
    };
  });
}

/** One N: the nodes' connections, their idle cost, CLIENT LIST's price, then their cost under load. */
async function measureAt(
  system: BenchSystem,
  n: number,
  windows: { idleMs: number; warmMs: number; busyMs: number },
  api: { idleRate: number; perOrder: number },
  log: (m: string) => void,
) {
  const ns = system.namespace(`scale${n}`);
  const keyspace = system.keyspace(ns);
  const endpoint = await system.startApi(ns);
  const before = await clientCensus(system.cluster);
  const started = Date.now();
  const nodes = await system.startNodes(ns, n, NODE_ENV);
  const startupS = (Date.now() - started) / 1000;
  await sleep(3000); // every Worker has opened its blocking connection and entered its first wait
  const census = await clientCensus(system.cluster);
  const connections = addedPerNode(before, census, n);
  const idle = await storeOver(system.cluster, () => sleep(windows.idleMs));
  const listing = await clientListCost(system.cluster);
  const idleCalls = (mastersTotal(idle.masters).calls - api.idleRate * idle.seconds) / idle.seconds / n;
  log(`N=${n}: idle ${fixed(idleCalls)} commands/s per node (API's share removed)`);

  const rate = BUSY_ORDERS_PER_NODE_S * n;
  const durationS = (windows.warmMs + windows.busyMs) / 1000 + 2;
  const loading = placeLoad(endpoint.url, { rate, durationS, concurrency: 16 });
  await sleep(windows.warmMs);
  const stepsBefore = await completedJobs(system.store, keyspace);
  const from = Date.now();
  const busy = await storeOver(system.cluster, () => sleep(windows.busyMs));
  const to = Date.now();
  const steps = (await completedJobs(system.store, keyspace)) - stepsBefore;
  const load = await loading;
  const placedInWindow = load.acks.filter((a) => a.at >= from && a.at < to).length;
  await Promise.all([...nodes, endpoint.process].map((p) => p.stop()));
  const total = mastersTotal(busy.masters);
  const netCalls = total.calls - api.idleRate * busy.seconds - placedInWindow * api.perOrder;
  log(
    `N=${n}: busy ${fixed(netCalls / busy.seconds / n)} commands/s per node, ${fixed(steps / busy.seconds)} steps/s`,
  );
  const idleTotal = mastersTotal(idle.masters);
  return {
    nodes: n,
    startup_s: startupS,
    connections,
    idle: {
      seconds: idle.seconds,
      calls_per_node_s: idleCalls,
      evalsha_per_node_s: idleTotal.evalsha / idle.seconds / n,
      cpu_ms_per_node_s: idleTotal.cpuMs / idle.seconds / n,
      masters: idle.masters,
    },
    busy: {
      seconds: busy.seconds,
      offered_orders_per_s: rate,
      placed_in_window: placedInWindow,
      steps_per_s: steps / busy.seconds,
      calls_per_node_s: netCalls / busy.seconds / n,
      gross_calls_per_node_s: total.calls / busy.seconds / n,
      evalsha_per_node_s: total.evalsha / busy.seconds / n,
      cpu_ms_per_node_s: total.cpuMs / busy.seconds / n,
      calls_per_step: steps ? netCalls / steps : null,
      placement_errors: load.report.placement.error_count + load.report.placement.non_2xx,
      masters: busy.masters,
    },
    client_list: listing,
  };
}

export type ScaleRow = Awaited<ReturnType<typeof measureAt>>;

/** N = 1, 4, 16 worker nodes, idle then busy, each on a fresh namespace of one cluster. */
export const scaleScenario: Scenario = {
  name: 'scale',
  title: 'what idle and busy worker nodes cost the store as nodes are added',
  estimateS: 300,
  async run(ctx) {
    const { quick, log } = ctx;
    const counts = quick ? [1, 2] : [1, 4, 16];
    const windows = quick
      ? { idleMs: 3000, warmMs: 3000, busyMs: 4000 }
      : { idleMs: 20_000, warmMs: 8000, busyMs: 20_000 };
    return withBenchSystem({ ...ctx, scenario: 'scale' }, async (system) => {
      const api = await calibrateApi(system, quick ? 2000 : 10_000, quick ? 100 : 500);
      log(`API alone: ${fixed(api.idleRate)} commands/s idle, ${fixed(api.perOrder)} per order placed`);
      const rows: ScaleRow[] = [];
      for (const n of counts) rows.push(await measureAt(system, n, windows, api, log));
      const maxclients = await system.store.config('GET', 'maxclients').catch(() => []);
      const points = rows.flatMap((r) => r.client_list.map((c): [number, number] => [c.clients, c.us]));
      const clientList = fitLine(points);
      const last = rows.at(-1)!;
      const config = loadConfig({});
      const maxClients = Number((maxclients as string[])[1] ?? 10_000);
      const model = clientList
        ? scaleInputs(last, { shards: config.SHARDS, maxClients, clientList, livenessMs: config.LIVENESS_MS })
        : null;
      const mastersOf = (r: ScaleRow) => r.connections.filter((c) => c.role === 'master');
      const perMaster = (r: ScaleRow) =>
        mastersOf(r).reduce((a, c) => a + c.perNode.node + c.perNode.blocking, 0) / mastersOf(r).length;
      return {
        headline: {
          measure: `per node at N = ${counts.join(', ')}: connections per master; commands/s idle / busy (${BUSY_ORDERS_PER_NODE_S * 4} steps/s)`,
          orderflow: rows
            .map(
              (r) =>
                `N=${r.nodes}: ${fixed(perMaster(r))} conns, ${fixed(r.idle.calls_per_node_s)} / ${fixed(r.busy.calls_per_node_s)}`,
            )
            .join('; '),
          baseline: '–',
          ratio: '–',
          target: 'reported (docs/SCALING.md)',
          met: null,
        },
        tables: [
          ...scaleTables(rows, { api, clientList, busyOrdersPerNode: BUSY_ORDERS_PER_NODE_S }),
          ...(model ? [extrapolationTable(model, last.nodes)] : []),
        ],
        notes: [
          `Each N runs on a fresh namespace of one 3-master cluster: one API, N worker nodes (STEP_MS 1000, no failures, 50 slots each). Idle: no orders for ${windows.idleMs / 1000} s. Busy: ${BUSY_ORDERS_PER_NODE_S} orders/s per node placed through the API (${BUSY_ORDERS_PER_NODE_S * 4} steps/s per node, what a saturated node does at the default 5 s steps), measured over ${windows.busyMs / 1000} s after ${windows.warmMs / 1000} s of warm-up.`,
          "Connections: CLIENT LIST of every master and replica before the nodes start and 3 s after they registered, told apart by name (a node's shared client `orderflow-worker-…`, each BullMQ Worker's blocking duplicate `…:w:<NODE_ID>`), divided by N.",
          `Commands/s per node: INFO commandstats of the masters over the window (commands scripts run included), less the API's share measured alone before (${fixed(api.idleRate)} commands/s idle, ${fixed(api.perOrder)} per order placed), divided by N. Gross: nothing taken off. Masters' CPU per node includes the API's share.`,
          `CLIENT LIST: µs per call on each master at each N (20 calls in a row), fitted against the clients listed: ${clientList ? `${fixed(clientList.intercept)} µs + ${fixed(clientList.slope, 3)} µs per client` : 'not enough points'}. Every node lists every master once per liveness beat while any node is late (workers/takeover.ts).`,
          `maxclients of the bench cluster: ${JSON.stringify(maxclients)}. Last N=${last.nodes}: node start-up ${fixed(last.startup_s)} s, ${last.busy.placement_errors} placement errors.`,
        ],
        data: { counts, windows, api, rows, client_list_fit: clientList, maxclients, model },
      };
    });
  },
};
