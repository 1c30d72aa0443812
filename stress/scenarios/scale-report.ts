// The scale scenario's tables: connections per node on each store node, and commands and CPU per node.
import { fixed } from '../harness/load.js';
import type { Line } from '../harness/scale-math.js';
import type { ScenarioOutcome } from '../harness/scenario.js';
import type { ScaleRow } from './scale.js';

/** The detail tables of a scale run, one row per N (and per store node for connections). */
export function scaleTables(
  rows: ScaleRow[],
  extra: {
    api: { idleRate: number; perOrder: number; connections: number };
    clientList: Line | null;
    busyOrdersPerNode: number;
  },
): ScenarioOutcome['tables'] {
  const busiest = (masters: ScaleRow['idle']['masters'], seconds: number, n: number) => {
    const top = masters.reduce((a, m) => (m.calls > a.calls ? m : a), masters[0]!);
    return `:${top.port} ${fixed(top.calls / seconds / n)} cmds/s, ${fixed(top.cpuMs / seconds / n, 2)} ms/s`;
  };
  return [
    {
      title: 'Connections each node adds, per store node (CLIENT LIST before / after the nodes start, ÷ N)',
      columns: [
        'N',
        'store node',
        'role',
        "node's shared client",
        'blocking (Worker) clients',
        'other',
        'clients in all',
        'in a blocking call now',
      ],
      rows: rows.flatMap((r) =>
        r.connections.map((c) => [
          String(r.nodes),
          `:${c.port}`,
          c.role,
          fixed(c.perNode.node, 2),
          fixed(c.perNode.blocking, 2),
          fixed(c.perNode.other + c.perNode.api, 2),
          String(c.clients),
          String(c.blocked),
        ]),
      ),
    },
    {
      title: `Store cost per node, idle and busy (${extra.busyOrdersPerNode} orders/s per node), masters' INFO commandstats and cpu`,
      columns: [
        'N',
        'idle commands/s per node',
        'idle scripts/s per node',
        'idle masters CPU ms/s per node',
        'idle busiest master per node',
        'busy commands/s per node (API share removed; gross)',
        "busy scripts/s per node (the API's included)",
        'busy masters CPU ms/s per node',
        'busy busiest master per node',
        'busy steps/s (all nodes)',
        'busy commands per step',
      ],
      rows: rows.map((r) => [
        String(r.nodes),
        fixed(r.idle.calls_per_node_s),
        fixed(r.idle.evalsha_per_node_s),
        fixed(r.idle.cpu_ms_per_node_s, 2),
        busiest(r.idle.masters, r.idle.seconds, r.nodes),
        `${fixed(r.busy.calls_per_node_s)}; ${fixed(r.busy.gross_calls_per_node_s)}`,
        fixed(r.busy.evalsha_per_node_s),
        fixed(r.busy.cpu_ms_per_node_s, 2),
        busiest(r.busy.masters, r.busy.seconds, r.nodes),
        fixed(r.busy.steps_per_s),
        fixed(r.busy.calls_per_step, 2),
      ]),
    },
    {
      title: 'CLIENT LIST on each master (what every node pays per beat while another node is late)',
      columns: ['N', 'master', 'clients listed', 'µs per call'],
      rows: rows.flatMap((r) =>
        r.client_list.map((c) => [String(r.nodes), `:${c.port}`, String(c.clients), fixed(c.us)]),
      ),
    },
    {
      title: "The API alone (subtracted from the nodes' commands)",
      columns: ['idle commands/s', 'commands per order placed', 'connections (all store nodes)'],
      rows: [[fixed(extra.api.idleRate), fixed(extra.api.perOrder), String(extra.api.connections)]],
    },
  ];
}
