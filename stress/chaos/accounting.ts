// Accounting: every order in the store is explained by a request of its user, and every key by one order.
import type { Anomaly, Note } from './anomaly.js';
import { keysOf, type PlacementRecord, type RequestRecord } from './journal.js';
import { maxMatching } from './matching.js';
import type { OrderJson } from './order-json.js';
import { bindingKey, type StoreView } from './store-reads.js';

export interface AccountingInput {
  placements: PlacementRecord[];
  store: StoreView;
  /** Each user's orders as GET /orders?user_id= lists them. */
  listings: Map<string, OrderJson[]>;
  runStart: number;
}

// The API stamps created_at between receiving a request and answering it, on this machine's clock.
const CLOCK_SLACK_MS = 100;
/** Answers after which no order can exist: refused before anything is written. */
const WRITES_NOTHING = new Set([400, 409, 413, 415, 429]);

const ackedIds = (p: PlacementRecord) => [
  ...new Set(p.requests.flatMap((r) => (r.status === 202 && r.order_id ? [r.order_id] : []))),
];

/**
 * The per-key and per-user rules. A (user, key) must get one order id in all its 202s, the one the
 * store binds to the key. An order of a user is accounted for by a 202 of that user, or by the binding
 * of a key the user's client sent or was given (a placement that gave up: retrying the key would
 * return it). Any other order must have been created during a key-less request that got no 202
 * (explainKeyless).
 */
export function accountOrders({ placements, store, listings, runStart }: AccountingInput): {
  anomalies: Anomaly[];
  notes: Note[];
} {
  const anomalies: Anomaly[] = [];
  const notes: Note[] = [];
  for (const p of placements) {
    const ids = ackedIds(p);
    if (p.requests.some((r) => r.status === 409))
      anomalies.push({
        kind: 'conflict',
        detail: '409 for the same key and body',
        user: p.user,
        placements: [p.id],
      });
    if (ids.length > 1)
      anomalies.push({
        kind: 'duplicate',
        detail: `one placement, ${ids.length} order ids in its 202s: ${ids.join(', ')}`,
        order_id: ids[0],
        user: p.user,
        placements: [p.id],
      });
    for (const key of keysOf(p)) {
      const bound = store.bindings.get(bindingKey(p.user, key));
      const other = ids.find((id) => bound !== undefined && id !== bound);
      if (other)
        anomalies.push({
          kind: 'duplicate',
          detail: `key ${key} is bound to ${bound}, but a 202 answered ${other}`,
          order_id: other,
          user: p.user,
          placements: [p.id],
        });
    }
  }

  const byUser = new Map<string, PlacementRecord[]>();
  for (const p of placements) byUser.set(p.user, [...(byUser.get(p.user) ?? []), p]);
  const stored = [...store.records.values()];
  const users = new Set([...byUser.keys(), ...listings.keys(), ...stored.map((o) => o.user_id)]);
  for (const user of users) {
    const mine = byUser.get(user) ?? [];
    const listed = new Set((listings.get(user) ?? []).map((o) => o.order_id));
    const orders = stored.filter((o) => o.user_id === user);
    for (const o of orders)
      if (listings.has(user) && !listed.has(o.order_id))
        anomalies.push({
          kind: 'unlisted',
          detail: `not in GET /orders?user_id=${user}`,
          order_id: o.order_id,
          user,
          placements: [],
          record: o,
        });
    const acked = new Set(mine.flatMap(ackedIds));
    const bound = new Map<string, PlacementRecord>();
    for (const p of mine)
      for (const key of keysOf(p)) {
        const id = store.bindings.get(bindingKey(user, key));
        if (id) bound.set(id, p);
      }
    const rest = orders.filter((o) => !acked.has(o.order_id));
    const unbound: OrderJson[] = [];
    for (const o of rest) {
      const keyed = bound.get(o.order_id);
      if (!keyed) unbound.push(o);
      else
        notes.push({
          kind: 'unacked-keyed',
          detail: `bound to key ${keysOf(keyed).join(', ')} of placement ${keyed.id}, which no 202 answered with it (a retry of the key returns it)`,
          order_id: o.order_id,
        });
    }
    explainKeyless(unbound, mine, runStart, anomalies, notes);
  }
  return { anomalies, notes };
}

/**
 * Orders of one user that neither a 202 nor a key explains must each have been created during a
 * key-less request that got no 202 (each request creating at most one). Requests whose answer gave
 * a generated key are left out: their order is bound to that key. The explanation that blames the
 * system least is taken: as many orders as possible are matched to requests that got no answer at
 * all (a note: nothing could have told the client), then the rest to requests answered with an error
 * (an orphan: the API said "not placed" and left no key), and an order left over is unaccounted.
 */
function explainKeyless(
  orders: OrderJson[],
  placements: PlacementRecord[],
  runStart: number,
  anomalies: Anomaly[],
  notes: Note[],
): void {
  const candidates = placements.flatMap((p) =>
    p.requests
      .filter(
        (r) => r.key === null && !r.generated_key && r.status !== 202 && !WRITES_NOTHING.has(r.status ?? 0),
      )
      .map((r) => ({ p, r })),
  );
  const within = (o: OrderJson, r: RequestRecord) => {
    const at = Date.parse(o.created_at) - runStart;
    return at >= r.sent_at - CLOCK_SLACK_MS && at <= r.answered_at + CLOCK_SLACK_MS;
  };
  const unanswered = candidates.filter((c) => c.r.status === null);
  const refused = candidates.filter((c) => c.r.status !== null);
  const first = maxMatching(orders.length, unanswered.length, (o, c) => within(orders[o]!, unanswered[c]!.r));
  const left = orders.flatMap((o, i) => (first[i] === -1 ? [o] : []));
  const second = maxMatching(left.length, refused.length, (o, c) => within(left[o]!, refused[c]!.r));
  orders.forEach((o, i) => {
    const c = unanswered[first[i]!];
    if (c)
      notes.push({
        kind: 'answer-lost',
        detail: `key-less placement ${c.p.id} got no answer (${c.r.error}); its order exists`,
        order_id: o.order_id,
      });
  });
  left.forEach((o, i) => {
    const c = refused[second[i]!];
    anomalies.push(
      c
        ? {
            kind: 'orphan',
            detail: `key-less placement ${c.p.id} was answered ${c.r.status} without a key to retry with, yet its order was stored`,
            order_id: o.order_id,
            user: o.user_id,
            placements: [c.p.id],
            record: o,
          }
        : {
            kind: 'unaccounted',
            detail: 'no request of this user explains this order',
            order_id: o.order_id,
            user: o.user_id,
            placements: placements.filter((p) => p.key === null && !p.order_id).map((p) => p.id),
            record: o,
          },
    );
  });
}
