// The orders a stress run places: a unique body and Idempotency-Key per request, users spread over shards.
import { randomBytes } from 'node:crypto';

/** One placement request: its body (JSON text) and the key a retry must repeat. */
export interface OrderRequestText {
  seq: number;
  key: string;
  body: string;
}

const REGIONS = ['eu-west', 'eu-central', 'us-east', 'ap-south'];

/** A new run id: short, URL- and key-safe, different on every run so runs never share users or keys. */
export function newRunId(): string {
  return randomBytes(4).toString('hex');
}

/**
 * The request source of run `runId` over `users` users. Sequence numbers make every body and key
 * unique (the API would answer a repeated key with the first order, which would not be a placement).
 */
export function createOrderSource(runId: string, users: number) {
  let seq = 0;
  return {
    next(): OrderRequestText {
      const n = seq++;
      const body = {
        user_id: `stress-${runId}-u${n % users}`,
        items: [{ sku: `SKU-${(n * 7919) % 1000}`, qty: 1 + (n % 5) }],
        customer_name: `stress ${runId} #${n}`,
        region: REGIONS[n % REGIONS.length],
      };
      return { seq: n, key: `stress-${runId}-${n}`, body: JSON.stringify(body) };
    },
    get issued(): number {
      return seq;
    },
  };
}

export type OrderSource = ReturnType<typeof createOrderSource>;
