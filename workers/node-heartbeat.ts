// A node's heartbeat: publishes its stats to the registry, hears a drain request, and runs the store
// watchdog that pauses the gate while the store stays unreachable.
import type { Logger } from '../shared/logger.js';
import type { NodeRegistry, NodeStats } from '../shared/node-registry.js';
import { withTimeout } from '../shared/store.js';
import type { NodeGate } from './node-gate.js';

export interface NodeHeartbeatDeps {
  registry: NodeRegistry;
  /** What each beat publishes, read at the beat. */
  stats: () => NodeStats;
  gate: NodeGate;
  intervalMs: number;
  /** How long the store may fail every beat before the gate is paused. */
  watchdogMs: number;
  log: Logger;
  now?: () => number;
  /** Called after every heartbeat that reached the store, with what it published. */
  onHeartbeat?: (stats: NodeStats) => Promise<void> | void;
  /** Called once when an operator asks this node to drain. */
  onDrainRequested?: () => void;
}

/** Beats every `intervalMs` once started; `storeOk` is the watchdog's verdict. */
export function createNodeHeartbeat(deps: NodeHeartbeatDeps) {
  const { gate, log, now = Date.now } = deps;
  let storeOkSince = now();
  let storeOk = true;
  let drainAsked = false;
  let timer: NodeJS.Timeout | undefined;

  async function beat(): Promise<void> {
    try {
      const published = deps.stats();
      const { drainRequested } = await withTimeout(
        deps.registry.heartbeat(published),
        deps.intervalMs,
        'heartbeat',
      );
      storeOkSince = now();
      if (!storeOk) {
        storeOk = true;
        gate.resume();
        log.info({ event: 'store-back', action: 'taking steps again' });
      }
      await deps.onHeartbeat?.(published);
      if (drainRequested && !drainAsked) {
        drainAsked = true;
        log.info({ event: 'drain-requested' });
        deps.onDrainRequested?.();
      }
    } catch (error) {
      const downMs = now() - storeOkSince;
      if (storeOk && downMs >= deps.watchdogMs) {
        storeOk = false;
        gate.pause();
        log.error({
          event: 'store-unreachable',
          down_ms: downMs,
          action: 'no new steps until it answers',
          err: error,
        });
      }
    }
  }

  return {
    /** False while the watchdog holds the gate paused. */
    get storeOk(): boolean {
      return storeOk;
    },
    /** Beats now and every `intervalMs`. */
    start(): void {
      void beat();
      timer = setInterval(() => void beat(), deps.intervalMs);
    },
    /** No further beats (one under way finishes). */
    stop(): void {
      clearInterval(timer);
    },
  };
}
