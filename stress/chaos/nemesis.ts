// The nemesis: plays the fault schedule on two lanes against the live system, and heals it at the end.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosCluster } from './chaos-cluster.js';
import { injectFault, NoTargetError } from './faults.js';
import type { FaultKind, PlannedFault } from './schedule.js';
import type { Services } from './services.js';

/** What happened to one planned fault (times in ms since the run began). */
export interface FaultRecord {
  kind: FaultKind;
  lane: 'process' | 'store';
  planned_at: number;
  started_at: number | null;
  healed_at: number | null;
  target: string | null;
  holdMs: number;
  intensity: number;
  /** For a master killed: the slots it served. */
  slots?: Array<[number, number]>;
  /** Why it was not injected, or why its heal failed. */
  note?: string;
}

/** A process of the system that exited without the nemesis killing it (restarted by the nemesis). */
export interface CrashRecord {
  at: number;
  name: string;
  code: number | null;
  signal: string | null;
}

const STORE_HEALTH_WAIT_MS = 30_000;

/** Resolves after ms, or at once when `stop` aborts. */
const hold = (ms: number, stop: AbortSignal) => sleep(ms, undefined, { signal: stop }).catch(() => undefined);

/**
 * Plays `plan` from now. A store fault waits for a healthy store first (every slot served, every
 * replica linked), so a master is never killed while its replica is down, and is skipped if the store
 * stays unhealthy. Processes that die by themselves are recorded as crashes and started again, like a
 * supervisor would. `stop()` ends the faults under way at once, heals them and waits for the lanes.
 */
export function startNemesis(
  plan: PlannedFault[],
  {
    services,
    store,
    runStart,
    log,
  }: {
    services: Services;
    store: ChaosCluster;
    runStart: number;
    log: (msg: string) => void;
  },
) {
  const ending = new AbortController();
  const began = Date.now();
  const records: FaultRecord[] = [];
  const crashes: CrashRecord[] = [];
  const heldDown = new Set<string>(); // names a fault keeps down: not crashes
  let abandoned = false;
  const since = () => Date.now() - runStart;

  async function storeHealthy(): Promise<boolean> {
    const deadline = Date.now() + STORE_HEALTH_WAIT_MS;
    while (!ending.signal.aborted) {
      if ((await store.problems().catch(() => ['unreadable'])).length === 0) return true;
      if (Date.now() > deadline) return false;
      await hold(500, ending.signal);
    }
    return false;
  }

  async function play(fault: PlannedFault): Promise<void> {
    const record: FaultRecord = {
      kind: fault.kind,
      lane: fault.lane,
      planned_at: began - runStart + fault.at,
      started_at: null,
      healed_at: null,
      target: null,
      holdMs: fault.holdMs,
      intensity: fault.intensity,
    };
    records.push(record);
    if (fault.lane === 'store' && !(await storeHealthy())) {
      record.note = ending.signal.aborted ? 'not reached' : 'skipped: store not healthy';
      return;
    }
    if (ending.signal.aborted) {
      record.note = 'not reached';
      return;
    }
    // A killed process is down on purpose until its heal restarts it: not a crash.
    const down =
      fault.kind === 'kill-api'
        ? 'api'
        : fault.kind === 'kill-worker'
          ? services.workerIds[fault.target % services.workerIds.length]!
          : null;
    try {
      if (down) heldDown.add(down);
      record.started_at = since();
      const injected = await injectFault(fault, services, store);
      record.target = injected.target;
      record.slots = injected.slots;
      log(`fault ${fault.kind} on ${injected.target} for ${fault.holdMs} ms`);
      await hold(fault.holdMs, ending.signal);
      if (abandoned) return;
      await injected.heal();
      record.healed_at = since();
    } catch (error) {
      if (abandoned) return; // a heal cut short by the teardown: nothing to report
      if (error instanceof NoTargetError) record.started_at = null;
      record.note = error instanceof NoTargetError ? `skipped: ${error.message}` : `error: ${String(error)}`;
      log(`fault ${fault.kind}: ${record.note}`);
    } finally {
      if (down && !abandoned) heldDown.delete(down);
    }
  }

  async function runLane(lane: 'process' | 'store'): Promise<void> {
    for (const fault of plan.filter((f) => f.lane === lane)) {
      await hold(began + fault.at - Date.now(), ending.signal);
      if (ending.signal.aborted) break;
      await play(fault);
    }
  }

  // A process down without a fault holding it is a crash: recorded, and started again.
  async function supervise(): Promise<void> {
    while (!ending.signal.aborted) {
      await hold(1000, ending.signal);
      if (ending.signal.aborted) break;
      await restartCrashed().catch((error) => log(`restart after crash failed: ${String(error)}`));
    }
  }

  async function restartCrashed(): Promise<void> {
    const down = [
      { name: 'api', child: services.api, restart: () => services.restartApi() },
      ...services.workerIds.map((id) => ({
        name: id,
        child: services.worker(id),
        restart: () => services.restartWorker(id),
      })),
    ].filter(({ name, child }) => child && !child.running && !heldDown.has(name));
    for (const { name, child, restart } of down) {
      const exit = await child!.exited;
      crashes.push({ at: since(), name, code: exit.code, signal: exit.signal });
      log(`${name} exited by itself (code ${exit.code}, signal ${exit.signal}); restarting it`);
      heldDown.add(name);
      await restart().finally(() => heldDown.delete(name));
    }
  }

  const lanes = Promise.all([runLane('process'), runLane('store'), supervise()]);
  return {
    records,
    crashes,
    /** Ends every fault under way (healing it) and resolves once both lanes stopped. */
    async stop(): Promise<void> {
      ending.abort();
      await lanes;
      await restartCrashed();
    },
    /**
     * Ends the faults without healing them (the run is being torn down: nothing may be restarted);
     * the caller resumes stopped processes and clears the proxies.
     */
    abandon(): void {
      abandoned = true;
      ending.abort();
    },
  };
}

export type Nemesis = ReturnType<typeof startNemesis>;
