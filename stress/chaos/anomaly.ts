// What the checker reports: anomalies (the run fails) and notes (explained, the run passes).
import type { OrderJson } from './order-json.js';

export type AnomalyKind =
  /** Answered 202, then no record: an acknowledged order is gone. */
  | 'lost'
  /** Not terminal after the quiet period. */
  | 'stuck'
  /** Two committed executions of one order overlap in time. */
  | 'overlap'
  /** One step committed more than once. */
  | 'double-commit'
  /** The record's shape contradicts its status (saga order, compensation, later steps started). */
  | 'saga'
  /** One (user, key) answered with two order ids, or a 202 id that is not the key's stored binding. */
  | 'duplicate'
  /** The API answered an error to a key-less request, stored the order anyway, and gave no key to find it. */
  | 'orphan'
  /** An order no request of its user can account for. */
  | 'unaccounted'
  /** A record missing from its user's listing. */
  | 'unlisted'
  /** 409 for a repeat with the same key and the same body. */
  | 'conflict'
  /** /stats counts that the records contradict. */
  | 'stats';

export interface Anomaly {
  kind: AnomalyKind;
  detail: string;
  order_id?: string;
  user?: string;
  /** Ids of the client's placements involved (their requests and answers are printed). */
  placements: number[];
  record?: OrderJson;
}

/** Something the rules explain (an answer lost with a killed API, counts lost with a killed node). */
export interface Note {
  kind: 'answer-lost' | 'unacked-keyed' | 'stats-drift';
  detail: string;
  order_id?: string;
}

/** The counts the summary prints; `duplicated` counts (user, key) pairs, the others orders. */
export function countAnomalies(anomalies: Anomaly[]): Record<AnomalyKind, number> {
  const counts = {
    lost: 0,
    stuck: 0,
    overlap: 0,
    'double-commit': 0,
    saga: 0,
    duplicate: 0,
    orphan: 0,
    unaccounted: 0,
    unlisted: 0,
    conflict: 0,
    stats: 0,
  } satisfies Record<AnomalyKind, number>;
  const seen = new Set<string>();
  for (const a of anomalies) {
    // An order counts once per kind, however many of its steps broke the rule.
    const id = `${a.kind} ${a.order_id ?? a.placements.join(',')} ${a.order_id ? '' : a.detail}`;
    if (seen.has(id)) continue;
    seen.add(id);
    counts[a.kind]++;
  }
  return counts;
}
