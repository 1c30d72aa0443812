// A worker node's registry entry for tests that publish one by hand instead of running a node.
import type { NodeStats } from '../../shared/node-registry.js';

/** An idle, running node's stats; `overrides` set what the test is about (id, pid, started_at, ...). */
export function nodeStats(overrides: Partial<NodeStats> & Pick<NodeStats, 'id'>): NodeStats {
  const now = new Date().toISOString();
  return {
    host: 'test-host',
    pid: 1,
    version: 'test',
    concurrency: 1,
    step_ms: 30,
    step_failure_rate: 0,
    active: 0,
    processed: 0,
    failed: 0,
    stalled_recovered: 0,
    lock_lost: 0,
    state: 'running',
    store_ok: true,
    started_at: now,
    last_seen: now,
    ...overrides,
  };
}
