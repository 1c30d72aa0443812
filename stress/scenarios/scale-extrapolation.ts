// The scale scenario's extrapolation: the largest N's measured costs carried to 1,000 nodes on 3 and 12 masters.
import { fixed } from '../harness/load.js';
import {
  busiestMasterCpuPerNode,
  type Line,
  loadAt,
  type ScaleInputs,
  walls,
} from '../harness/scale-math.js';
import type { ResultTable } from '../harness/scenario.js';
import type { ScaleRow } from './scale.js';

/** Masters of the bench's cluster, and the most that can serve SHARDS shards (one slot each). */
const MASTER_COUNTS = (measured: number, shards: number) => [...new Set([measured, shards])];
const NODE_COUNTS = [100, 1000];

/** The inputs of the model, read off the row of the largest N. */
export function scaleInputs(
  row: ScaleRow,
  o: { shards: number; maxClients: number; clientList: Line; livenessMs: number },
) {
  const masters = row.connections.filter((c) => c.role === 'master');
  const replicas = row.connections.filter((c) => c.role === 'replica');
  const busiest = row.busy.masters.reduce((a, m) => (m.cpuMs > a.cpuMs ? m : a), row.busy.masters[0]!);
  const idleBusiest = row.idle.masters.reduce((a, m) => (m.cpuMs > a.cpuMs ? m : a), row.idle.masters[0]!);
  const idleOthers = row.idle.masters.filter((m) => m !== idleBusiest);
  const perNodeS = (ms: number, seconds: number) => ms / seconds / row.nodes / 1000;
  // The {registry} master's extra idle CPU over the others' mean: the part no added master takes over.
  const registry =
    perNodeS(idleBusiest.cpuMs, row.idle.seconds) -
    perNodeS(idleOthers.reduce((a, m) => a + m.cpuMs, 0) / Math.max(1, idleOthers.length), row.idle.seconds);
  return {
    measuredMasters: masters.length,
    busyTotalCpuPerNode: row.busy.cpu_ms_per_node_s / 1000,
    /** Measured, to hold the model's figure for the measured masters against. */
    busyBusiestCpuPerNode: perNodeS(busiest.cpuMs, row.busy.seconds),
    registryCpuPerNode: Math.max(0, registry),
    base: {
      shards: o.shards,
      sharedPerMaster: masters.reduce((a, c) => a + c.perNode.node, 0) / masters.length,
      mastersPerWorker: masters.reduce((a, c) => a + c.perNode.blocking, 0) / o.shards,
      perReplicaPerNode: Math.max(...replicas.map((c) => c.perNode.node + c.perNode.blocking)),
      maxClients: o.maxClients,
      clientListUs: o.clientList,
      livenessMs: o.livenessMs,
    },
  };
}

/** One row per master count and node count, then the walls of each master count. */
export function extrapolationTable(inputs: ReturnType<typeof scaleInputs>, measuredN: number): ResultTable {
  const rows: string[][] = [];
  for (const masters of MASTER_COUNTS(inputs.measuredMasters, inputs.base.shards)) {
    const cpu = busiestMasterCpuPerNode(inputs.busyTotalCpuPerNode, inputs.registryCpuPerNode, masters);
    const model: ScaleInputs = { ...inputs.base, masters, cpuPerNodeBusiestMaster: cpu };
    for (const n of NODE_COUNTS) {
      const at = loadAt(n, model);
      rows.push([
        String(masters),
        String(n),
        fixed(at.connectionsPerMaster, 0),
        fixed(at.connectionsPerReplica, 0),
        fixed(at.clientListUs / 1000, 2),
        fixed(at.lateNodeListingCpu, 2),
        fixed(at.busiestMasterCpu, 2),
      ]);
    }
    const w = walls(model);
    rows.push([
      String(masters),
      'wall at N =',
      `${w.maxclients ?? '–'} (maxclients)`,
      '',
      '',
      `${w.lateNodeListing ?? '–'}`,
      `${w.busiestMasterCpu ?? '–'}`,
    ]);
  }
  return {
    title: `Extrapolated from N=${measuredN} (busy: 10 steps/s per node; CPU in cores, 1 = a master's whole core)`,
    columns: [
      'masters',
      'nodes',
      'connections per master',
      'connections per replica',
      'CLIENT LIST ms per call',
      "a master's CPU while one node is late (every node lists every master each beat)",
      'busiest master CPU, all nodes busy',
    ],
    rows,
  };
}
