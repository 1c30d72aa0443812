// Pure arithmetic of the scale scenario: per-node figures from measured deltas, and their extrapolation.
import { linearSlope } from '../report-math.js';

/** `(after − before) / nodes`: what each of `nodes` nodes added; null with no node. */
export function perNode(before: number, after: number, nodes: number): number | null {
  return nodes > 0 ? (after - before) / nodes : null;
}

/** A straight line `y = intercept + slope × x` through measured points (least squares). */
export interface Line {
  intercept: number;
  slope: number;
}

/** The least-squares line through `points` ([x, y]); null with fewer than two distinct x. */
export function fitLine(points: ReadonlyArray<[number, number]>): Line | null {
  const slope = linearSlope(
    points.map(([x]) => x),
    points.map(([, y]) => y),
  );
  if (slope === null) return null;
  const mx = points.reduce((a, [x]) => a + x, 0) / points.length;
  const my = points.reduce((a, [, y]) => a + y, 0) / points.length;
  return { intercept: my - slope * mx, slope };
}

/** What one node costs the store, measured, and the store's limits: the inputs of `extrapolate`. */
export interface ScaleInputs {
  /** Masters serving the shards (at most SHARDS: each shard is one slot). */
  masters: number;
  shards: number;
  /** Connections a node's shared client holds to each master. */
  sharedPerMaster: number;
  /**
   * Masters each shard Worker's blocking client holds a connection to, on average (measured: its own
   * shard's and about one more); never more than there are masters.
   */
  mastersPerWorker: number;
  /** Connections one node holds to each replica (measured: every client of the node, 1 + SHARDS). */
  perReplicaPerNode: number;
  /** Connections a store node accepts (`maxclients`, 10000 by default). */
  maxClients: number;
  /**
   * CPU a node costs the busiest master, in seconds per second (the {registry} slot's master carries
   * every node's beats), at the load the figure was measured under.
   */
  cpuPerNodeBusiestMaster: number;
  /** µs a master spends on one CLIENT LIST as a function of the clients it lists. */
  clientListUs: Line;
  /** How often a node beats its liveness (LIVENESS_MS): while one node is late, each other node lists every master per beat. */
  livenessMs: number;
}

/** Connections per master from one node: its shared client's, and its blocking clients' share. */
export function connectionsPerMasterPerNode(
  i: Pick<ScaleInputs, 'masters' | 'shards' | 'sharedPerMaster' | 'mastersPerWorker'>,
): number {
  return i.sharedPerMaster + (i.shards * Math.min(i.mastersPerWorker, i.masters)) / i.masters;
}

/** The store's load at `nodes` nodes, under the linear model the measurements at 1, 4 and 16 support. */
export function loadAt(nodes: number, i: ScaleInputs) {
  const connectionsPerMaster = nodes * connectionsPerMasterPerNode(i);
  const clientListUs = i.clientListUs.intercept + i.clientListUs.slope * connectionsPerMaster;
  return {
    nodes,
    connectionsPerMaster,
    connectionsPerReplica: nodes * i.perReplicaPerNode,
    /** Share of maxclients taken on the fullest store node (a master or a replica). */
    clientsShare: Math.max(connectionsPerMaster, nodes * i.perReplicaPerNode) / i.maxClients,
    /** CPU seconds per second of the busiest master (1 = one core, all a master has). */
    busiestMasterCpu: nodes * i.cpuPerNodeBusiestMaster,
    /** µs of one CLIENT LIST on a master at that many clients. */
    clientListUs,
    /**
     * A master's CPU per second while one node is late: every other node lists every master once per
     * beat. Over 1 the master does nothing else until the late node is judged (up to DEATH_TIMEOUT_MS).
     */
    lateNodeListingCpu: ((nodes - 1) * clientListUs * (1000 / i.livenessMs)) / 1e6,
  };
}

/** The first node count (searched up to `limit`) at which `exceeds` holds; null if none does. */
export function firstNodesWhere(exceeds: (nodes: number) => boolean, limit = 100_000): number | null {
  if (!exceeds(limit)) return null;
  let low = 1;
  let high = limit;
  if (exceeds(low)) return low;
  // Every measure grows with the node count, so the first crossing is found by bisection.
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (exceeds(mid)) high = mid;
    else low = mid;
  }
  return high;
}

/** Where each wall stands: the first node count at which that limit is reached. */
export function walls(i: ScaleInputs) {
  return {
    maxclients: firstNodesWhere((n) => loadAt(n, i).clientsShare >= 1),
    busiestMasterCpu: firstNodesWhere((n) => loadAt(n, i).busiestMasterCpu >= 1),
    lateNodeListing: firstNodesWhere((n) => loadAt(n, i).lateNodeListingCpu >= 1),
  };
}

/**
 * CPU a node costs the busiest master when the shards spread over `masters`: the {registry} slot's
 * part (beats, heartbeats) stays on one master whatever their number; the rest divides among them.
 */
export function busiestMasterCpuPerNode(
  totalPerNode: number,
  registryPerNode: number,
  masters: number,
): number {
  return registryPerNode + (totalPerNode - registryPerNode) / masters;
}
