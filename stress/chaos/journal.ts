// What the chaos client records: every placement, every request it sent for it, every answer.

/** One HTTP request of a placement and what came back (times in ms since the run began). */
export interface RequestRecord {
  sent_at: number;
  answered_at: number;
  /** The Idempotency-Key sent, or null for a key-less request. */
  key: string | null;
  /** HTTP status; null when no answer came (connection refused or reset, timeout). */
  status: number | null;
  error?: string;
  order_id?: string;
  replayed?: boolean;
  retry_after_s?: number;
  /** A key the API generated for a key-less placement it could not confirm (503 body or header). */
  generated_key?: string;
  /** A deliberate repeat of an acknowledged keyed placement, to exercise the replay path. */
  repeat?: boolean;
}

/** One order a customer wanted: its user, body and initial key, and every request made for it. */
export interface PlacementRecord {
  id: number;
  user: string;
  /** The key the customer chose; null when it placed without one. */
  key: string | null;
  body: string;
  requests: RequestRecord[];
  /** acked: a 202 came; gave-up: retries ran out (or a key-less request could not be retried safely). */
  outcome: 'acked' | 'gave-up' | 'in-flight';
  /** The order id of the first 202. */
  order_id?: string;
}

/** Every key a placement sent or was given: a store binding under any of them is this placement's. */
export function keysOf(placement: PlacementRecord): string[] {
  const keys = new Set<string>();
  for (const r of placement.requests) {
    if (r.key) keys.add(r.key);
    if (r.generated_key) keys.add(r.generated_key);
  }
  return [...keys];
}
