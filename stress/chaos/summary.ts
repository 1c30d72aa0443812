// The machine-readable result of a chaos run, for --report, the bench scenario and the test.

import { faultsByKind } from './report.js';
import type { ChaosOutcome } from './run-chaos.js';

/** What a chaos run came to, as JSON. */
export function summarize(outcome: ChaosOutcome) {
  const { history, check } = outcome;
  const notes: Record<string, number> = {};
  for (const n of check.notes) notes[n.kind] = (notes[n.kind] ?? 0) + 1;
  return {
    seed: history.seed,
    duration_s: history.durationS,
    nodes: history.nodes,
    partitions: history.partitions,
    faults_by_kind: faultsByKind(history.faults),
    faults_skipped: history.faults.filter((f) => f.started_at === null && f.note !== 'not reached').length,
    placements: history.placements.length,
    requests: history.placements.reduce((n, p) => n + p.requests.length, 0),
    acked: check.acked,
    records: check.records,
    stats: check.stats,
    counts: check.counts,
    /** Each partition: what the requests to the isolated master's shards sent during the cut got. */
    partition_cuts: check.partitions.map((p) => ({
      target: p.target,
      from_s: p.from / 1000,
      to_s: p.to / 1000,
      answers: p.answers,
      acked: p.acked.length,
    })),
    notes,
    crashes: outcome.crashes,
    store_problems: outcome.storeProblems,
    proxies: outcome.proxies,
    timings: outcome.timings,
    anomalies: check.anomalies.map((a) => ({
      kind: a.kind,
      order_id: a.order_id,
      user: a.user,
      detail: a.detail,
    })),
    /** No anomaly, no crash of a process, and a healthy store after the faults. */
    clean: check.anomalies.length === 0 && outcome.crashes.length === 0 && outcome.storeProblems.length === 0,
  };
}

export type ChaosSummary = ReturnType<typeof summarize>;
