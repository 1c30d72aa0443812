// The chaos client: customers placing orders as a careful client would, every request recorded.
import { setTimeout as sleep } from 'node:timers/promises';
import type { PlacementRecord, RequestRecord } from './journal.js';
import type { Prng } from './prng.js';

export interface ClientOptions {
  /** The URL of the API running now: it changes when the nemesis restarts the API. */
  apiUrl: () => string;
  users: string[];
  customers: number;
  /** Mean pause of a customer between two orders. */
  meanGapMs: number;
  random: Prng;
  runStart: number;
}

const REQUEST_TIMEOUT_MS = 10_000;
const MAX_RETRY_AFTER_S = 5;
/** Share of acknowledged keyed placements sent once more, to exercise the replay path. */
const REPEAT_SHARE = 0.15;

/** 503 and 429 refuse for now; 5xx and no answer leave the outcome open. Only a key makes a retry safe. */
const retryable = (r: RequestRecord, key: string | null) =>
  r.status === 429 || (key !== null && (r.status === null || r.status >= 500));

async function send(url: string, body: string, key: string | null, runStart: number): Promise<RequestRecord> {
  const record: RequestRecord = { sent_at: Date.now() - runStart, answered_at: 0, key, status: null };
  try {
    const res = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    record.status = res.status;
    const json = (() => {
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch {
        return {};
      }
    })();
    if (res.status === 202) record.order_id = String(json.order_id);
    if (res.headers.get('idempotent-replayed') === 'true') record.replayed = true;
    const retryAfter = Number(res.headers.get('retry-after'));
    if (Number.isFinite(retryAfter) && retryAfter > 0) record.retry_after_s = retryAfter;
    // Another engineer adds a generated key to key-less 503s; used when present, absent otherwise.
    const generated = json.idempotency_key ?? res.headers.get('idempotency-key');
    if (res.status !== 202 && key === null && typeof generated === 'string' && generated)
      record.generated_key = generated;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    record.error = cause?.code ?? (error as Error).name;
  }
  record.answered_at = Date.now() - runStart;
  return record;
}

/**
 * Starts `customers` loops that each place an order for a seeded user, with an Idempotency-Key or
 * without (half each), then pause. A refused or unanswered placement is retried after Retry-After
 * (or 0.5 s) with the same body and key, or with the key the API generated; a key-less one that the
 * API may have stored (503, 5xx, no answer) is not retried blindly: it gives up. Retries stop at
 * `stop(retryUntil)`'s deadline.
 */
export function startClient({ apiUrl, users, customers, meanGapMs, random, runStart }: ClientOptions) {
  const placements: PlacementRecord[] = [];
  const stopPlacing = new AbortController();
  let retryUntil = Number.POSITIVE_INFINITY;
  const pause = (ms: number) => sleep(ms, undefined, { signal: stopPlacing.signal }).catch(() => undefined);

  /** Sends until a 202, an answer not worth retrying, or the retry deadline; true on a 202. */
  async function attempt(p: PlacementRecord, repeat: boolean): Promise<boolean> {
    let key = p.key ?? keyGiven(p);
    for (;;) {
      const r = await send(apiUrl(), p.body, key, runStart);
      if (repeat) r.repeat = true;
      p.requests.push(r);
      if (r.status === 202) return true;
      key ??= r.generated_key ?? null;
      if (!retryable(r, key) || Date.now() >= retryUntil) return false;
      const waitMs = r.retry_after_s ? Math.min(r.retry_after_s, MAX_RETRY_AFTER_S) * 1000 : 500;
      await sleep(waitMs + random.int(0, 200));
    }
  }

  async function place(p: PlacementRecord, draw: Prng): Promise<void> {
    const acked = await attempt(p, false);
    p.outcome = acked ? 'acked' : 'gave-up';
    p.order_id = p.requests.find((r) => r.status === 202)?.order_id;
    if (acked && p.key !== null && draw.chance(REPEAT_SHARE)) {
      await sleep(draw.int(500, 4000));
      await attempt(p, true);
    }
  }

  async function customer(index: number): Promise<void> {
    const draw = random.fork(`customer-${index}`);
    while (!stopPlacing.signal.aborted) {
      const id = placements.length + 1;
      const user = draw.pick(users);
      const body = JSON.stringify({
        user_id: user,
        items: [{ sku: `SKU-${draw.int(1, 50)}`, qty: draw.int(1, 5) }],
      });
      const key = draw.chance(0.5) ? `key-${index}-${id}` : null;
      const p: PlacementRecord = { id, user, key, body, requests: [], outcome: 'in-flight' };
      placements.push(p);
      await place(p, draw);
      await pause(draw.int(meanGapMs / 2, (meanGapMs * 3) / 2));
    }
  }

  const loops = Promise.all(Array.from({ length: customers }, (_, i) => customer(i)));
  return {
    placements,
    /** Stops new placements; retries of those under way go on until `retryUntil` (epoch ms). */
    async stop(retryDeadline: number): Promise<void> {
      retryUntil = retryDeadline;
      stopPlacing.abort();
      await loops;
    },
  };
}

/** A key the API generated on an earlier answer of this placement, if any. */
function keyGiven(p: PlacementRecord): string | null {
  return p.requests.find((r) => r.generated_key)?.generated_key ?? null;
}
