// The fault schedule of a chaos run, drawn from its seed alone: same seed and duration, same schedule.
import type { Prng } from './prng.js';

export const PROCESS_FAULTS = ['kill-worker', 'pause-worker', 'kill-api'] as const;
export const STORE_FAULTS = [
  'kill-master',
  'lagging-failover',
  'pause-replica',
  'pause-store',
  'net-latency',
  'net-drop-replies',
  'net-reset',
] as const;
/**
 * Store faults drawn only with `--partitions`: kept out of STORE_FAULTS so that a run without the
 * flag draws exactly as before (seeds are on record, and a seed must replay its schedule).
 */
export const PARTITION_FAULTS = ['partition-master'] as const;
export type FaultKind =
  | (typeof PROCESS_FAULTS)[number]
  | (typeof STORE_FAULTS)[number]
  | (typeof PARTITION_FAULTS)[number];

/** One planned fault. Targets are indexes, resolved against the live system when the fault starts. */
export interface PlannedFault {
  /** ms after the fault phase began; a store fault may start later, once the store is healthy. */
  at: number;
  lane: 'process' | 'store';
  kind: FaultKind;
  /** Which worker (by index), or which master / replica (by index among the live ones, in port order). */
  target: number;
  /** How long the fault holds before it is healed (process restarted, SIGCONT, proxy cleared). */
  holdMs: number;
  /** Latency of net-latency; drop or reset rate of the other network faults; lag of lagging-failover. */
  intensity: number;
}

/** How long each kind holds: pauses run past the 6 s step lock, the API comes back within seconds. */
function hold(kind: FaultKind, random: Prng): { holdMs: number; intensity: number } {
  switch (kind) {
    case 'kill-worker':
      return { holdMs: random.int(1000, 3000), intensity: 0 };
    case 'pause-worker':
      return { holdMs: random.int(7500, 9000), intensity: 0 };
    case 'kill-api':
      return { holdMs: random.int(500, 2000), intensity: 0 };
    case 'kill-master':
      // The node restarts only after its replica took over (see the nemesis), so at least this long.
      return { holdMs: random.int(5000, 8000), intensity: 0 };
    case 'lagging-failover':
      // intensity: how long the replication stream is held back before the master is killed; the
      // hold: how long the master stays dead before the proxy is cleared (the failover goes on).
      return { holdMs: random.int(500, 1500), intensity: random.int(4000, 7000) };
    case 'pause-replica':
      return { holdMs: random.int(3000, 5000), intensity: 0 };
    case 'pause-store':
      return { holdMs: random.int(2500, 3500), intensity: 0 };
    case 'net-latency':
      // Above WAIT_TIMEOUT_MS (200 ms) on the replication link: placements must answer 503.
      return { holdMs: random.int(4000, 6000), intensity: random.int(50, 400) };
    case 'net-drop-replies':
      return { holdMs: random.int(4000, 6000), intensity: random.pick([0.05, 0.1, 0.2]) };
    case 'net-reset':
      return { holdMs: random.int(3000, 5000), intensity: random.pick([0.1, 0.25, 0.5]) };
    case 'partition-master':
      // Past the failover (cluster-node-timeout 2 s, then the election: about 3-5 s), so the
      // majority promotes the replica while the old master still takes clients' writes.
      return { holdMs: random.int(6000, 10_000), intensity: 0 };
  }
}

/**
 * Each lane runs one fault at a time: the process lane (worker and API processes) and the store
 * lane (redis nodes and the network to them), so a process dies while the store fails over. Each
 * lane first goes through all of its kinds in a seeded order, so even a short run covers every
 * kind it has time for, then picks kinds at random. `only` narrows the kinds (same seed, same
 * draws for a given `only`), to hunt one interaction; `partitions` adds PARTITION_FAULTS to the
 * store lane (without it, the draws are those of a run before partitions existed).
 */
export function planFaults(
  random: Prng,
  durationMs: number,
  workers: number,
  { only, partitions = false }: { only?: readonly FaultKind[]; partitions?: boolean } = {},
): PlannedFault[] {
  const plan: PlannedFault[] = [];
  const chosen = (kinds: readonly FaultKind[]) => kinds.filter((k) => !only || only.includes(k));
  const storeKinds: readonly FaultKind[] = partitions ? [...STORE_FAULTS, ...PARTITION_FAULTS] : STORE_FAULTS;
  const lanes = [
    { lane: 'process' as const, kinds: chosen(PROCESS_FAULTS), leadMs: 3000, gap: [1500, 4000] as const },
    { lane: 'store' as const, kinds: chosen(storeKinds), leadMs: 5000, gap: [2000, 4000] as const },
  ];
  for (const { lane, kinds, leadMs, gap } of lanes) {
    // A lane whose kinds were all left out by `only` injects nothing.
    if (kinds.length === 0) continue;
    const draw = random.fork(lane);
    const keyed: Array<{ kind: FaultKind; key: number }> = kinds.map((kind) => ({ kind, key: draw.next() }));
    const order = keyed.sort((a, b) => a.key - b.key).map((x) => x.kind);
    let at = leadMs;
    // Dropped replies count twice in the random picks: the subtlest fault (a write that landed,
    // its answer lost) and the one most likely to be read wrong.
    const weighted: FaultKind[] = [...kinds, ...kinds.filter((k) => k === 'net-drop-replies')];
    for (let i = 0; ; i++) {
      const kind = order[i] ?? draw.pick(weighted);
      const { holdMs, intensity } = hold(kind, draw);
      if (at + holdMs > durationMs) break;
      const target = lane === 'process' ? draw.int(0, workers - 1) : draw.int(0, 2);
      plan.push({ at, lane, kind, target, holdMs, intensity });
      at += holdMs + draw.int(gap[0], gap[1]);
    }
  }
  return plan.sort((a, b) => a.at - b.at);
}
