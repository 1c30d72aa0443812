// The independent checker: after the quiet period, reads the API and the store and lists every anomaly.
// It imports nothing from shared/, server/ or workers/: it must not share a bug with what it checks.
import { setTimeout as sleep } from 'node:timers/promises';
import { accountOrders } from './accounting.js';
import { type Anomaly, countAnomalies, type Note } from './anomaly.js';
import { listUserOrders, readOrder, readStats, type StatsCounts } from './api-reads.js';
import { keysOf, type PlacementRecord } from './journal.js';
import { type OrderJson, TERMINAL } from './order-json.js';
import { checkRecord } from './order-rules.js';
import { type PartitionCoverage, type PartitionWindow, partitionCoverage } from './partition-coverage.js';
import { type Kill, type LossWindow, statsFindings } from './stats-rule.js';
import { bindingKey, readStore, type StoreAccess, type StoreView } from './store-reads.js';

export interface CheckInput {
  /** The URL of the API running now. */
  api: () => string;
  store: StoreAccess;
  namespace: string;
  users: string[];
  placements: PlacementRecord[];
  runStart: number;
  /** Epoch ms by which every order must be terminal (faults end + the quiet bound). */
  quietUntil: number;
  /** The SIGKILLs of the run: their unflushed /stats counts are documented as lost. */
  kills: Kill[];
  /** When failovers may have lost writes the replica had not received. */
  lossWindows: LossWindow[];
  /** The network partitions of the run (partition-master). */
  partitions: PartitionWindow[];
}

export interface CheckResult {
  anomalies: Anomaly[];
  notes: Note[];
  counts: ReturnType<typeof countAnomalies>;
  acked: number;
  /** Records in the store by status. */
  records: Record<string, number>;
  stats: StatsCounts | null;
  /** Seconds from the call until every order was terminal (or the bound passed). */
  settled_s: number;
  /** What clients did on the isolated side of each partition. */
  partitions: PartitionCoverage[];
}

const ackedIdsOf = (placements: PlacementRecord[]) =>
  new Set(
    placements.flatMap((p) =>
      p.requests.flatMap((r) => (r.status === 202 && r.order_id ? [r.order_id] : [])),
    ),
  );

/** Every user's listing, and the acknowledged orders no listing holds, read one by one. */
async function readOrders(input: CheckInput, acked: Set<string>) {
  const listings = new Map<string, OrderJson[]>();
  for (const user of input.users) listings.set(user, await listUserOrders(input.api(), user));
  const seen = new Map<string, OrderJson | number>();
  for (const orders of listings.values()) for (const o of orders) seen.set(o.order_id, o);
  for (const id of acked) if (!seen.has(id)) seen.set(id, await readOrder(input.api(), id));
  return { listings, seen };
}

const settled = (seen: Map<string, OrderJson | number>) =>
  [...seen.values()].every((o) => typeof o === 'number' || TERMINAL.has(o.status));

/**
 * Names the placements behind each anomaly's order, so their requests and answers can be printed:
 * those answered its id, those whose key the store binds to it, and key-less requests of its user
 * that were under way when it was created.
 */
function attribute(anomalies: Anomaly[], input: CheckInput, store: StoreView): void {
  for (const a of anomalies) {
    if (a.placements.length > 0 || !a.order_id) continue;
    const created = a.record ? Date.parse(a.record.created_at) - input.runStart : Number.NaN;
    a.placements = input.placements
      .filter(
        (p) =>
          p.requests.some((r) => r.order_id === a.order_id) ||
          keysOf(p).some((k) => store.bindings.get(bindingKey(p.user, k)) === a.order_id) ||
          (p.user === a.record?.user_id &&
            p.requests.some(
              (r) => r.key === null && r.sent_at - 100 <= created && created <= r.answered_at + 100,
            )),
      )
      .map((p) => p.id);
  }
}

/** Waits for the quiet period to end or every order to be terminal, then checks everything. */
export async function checkRun(input: CheckInput): Promise<CheckResult> {
  const started = Date.now();
  const acked = ackedIdsOf(input.placements);
  let orders = await readOrders(input, acked);
  while (!settled(orders.seen) && Date.now() < input.quietUntil) {
    await sleep(2000);
    orders = await readOrders(input, acked);
  }
  const settled_s = (Date.now() - started) / 1000;
  const store = await readStore(input.store, input.namespace);
  const records: Record<string, number> = {};
  for (const o of store.records.values()) records[o.status] = (records[o.status] ?? 0) + 1;

  const anomalies: Anomaly[] = [];
  const notes: Note[] = [];
  for (const id of acked) {
    const found = orders.seen.get(id);
    if (typeof found === 'number')
      anomalies.push({
        kind: 'lost',
        detail: `answered 202, now GET /orders/${id} answers ${found}`,
        order_id: id,
        placements: [],
      });
  }
  const everyOrder = new Map(store.records);
  for (const [id, o] of orders.seen) if (typeof o !== 'number') everyOrder.set(id, o);
  for (const o of everyOrder.values())
    for (const f of checkRecord(o))
      anomalies.push({
        kind: f.kind,
        detail: f.detail,
        order_id: o.order_id,
        user: o.user_id,
        placements: [],
        record: o,
      });
  const accounted = accountOrders({
    placements: input.placements,
    store,
    listings: orders.listings,
    runStart: input.runStart,
  });
  anomalies.push(...accounted.anomalies);
  notes.push(...accounted.notes);

  // Counters reach the store with each process's next flush (a heartbeat, 1 s): read after two,
  // and again a few times while the counts are off by more than a kill explains.
  let stats: StatsCounts | null = null;
  let judged = { anomalies: [] as Anomaly[], notes: [] as Note[] };
  await sleep(2000);
  for (let i = 0; i < 4; i++) {
    stats = await readStats(input.api()).catch(() => null);
    judged = stats
      ? statsFindings(stats, [...store.records.values()], input, {
          slotOf: store.slots,
          statsSlot: store.statsSlot,
        })
      : { anomalies: [{ kind: 'stats', detail: 'GET /stats failed', placements: [] }], notes: [] };
    if (judged.anomalies.length === 0) break;
    await sleep(1500);
  }
  anomalies.push(...judged.anomalies);
  notes.push(...judged.notes);
  attribute(anomalies, input, store);
  return {
    anomalies,
    notes,
    counts: countAnomalies(anomalies),
    acked: acked.size,
    records,
    stats,
    settled_s,
    partitions: partitionCoverage(input.partitions, input.placements, store.records.values(), store.slots),
  };
}
