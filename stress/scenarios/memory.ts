// Memory: store bytes per retained order, as a whole (used_memory) and per key (MEMORY USAGE).
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../scripts/kit/wait.js';
import { isTerminal, STEPS } from '../../shared/domain/order.js';
import { stepJobId } from '../../shared/order-id.js';
import type { Store } from '../../shared/store.js';
import { withBenchSystem } from '../harness/bench-system.js';
import { fixed, placeLoad } from '../harness/load.js';
import type { Scenario } from '../harness/scenario.js';
import { mastersMemory, onMasters, readRecords } from '../harness/store-reads.js';
import { median } from '../report-math.js';

const usage = async (store: Store, key: string) =>
  Number((await store.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);

/** Orders run to their end (failures on, as deployed), then the store is weighed. */
export const memoryScenario: Scenario = {
  name: 'memory',
  title: 'store bytes per retained order',
  estimateS: 45,
  async run(ctx) {
    const { quick, log } = ctx;
    const count = quick ? 500 : 5000;
    return withBenchSystem({ ...ctx, scenario: 'memory' }, async (system) => {
      const ns = system.namespace('mem');
      const keyspace = system.keyspace(ns);
      const api = await system.startApi(ns);
      await system.startNodes(ns, 2, { STEP_MS: '0', COMPENSATION_MS: '0' });
      await sleep(1000);
      const keysBefore = (await onMasters(system.cluster, (r) => r.dbsize())).reduce((a, b) => a + b, 0);
      const before = await mastersMemory(system.cluster);
      const load = await placeLoad(api.url, { orders: count, concurrency: 50 });
      const { orders } = await waitUntil(
        'every order to finish',
        async () => {
          const read = await readRecords(system.store, keyspace, load.ids);
          return (
            read.orders.every((o) => isTerminal(o.status)) && read.orders.length === load.ids.length && read
          );
        },
        quick ? 60_000 : 300_000,
        { everyMs: 1000 },
      );
      await sleep(1500); // the backlog monitor and heartbeats settle; nothing else is written
      const after = await mastersMemory(system.cluster);
      const keysAfter = (await onMasters(system.cluster, (r) => r.dbsize())).reduce((a, b) => a + b, 0);

      const sample = orders.slice(0, 100);
      const runId = load.report.run_id;
      const seqOf = new Map(load.acks.map((a) => [a.orderId, a.seq]));
      const part = async (key: (o: (typeof sample)[number]) => string) =>
        median(await Promise.all(sample.map((o) => usage(system.store, key(o)))));
      const keysOf = (o: (typeof sample)[number]) => keyspace.shard(o.shard);
      const record = await part((o) => keysOf(o).order(o.order_id));
      const idempotency = await part((o) =>
        keysOf(o).idempotency(o.user_id, `stress-${runId}-${seqOf.get(o.order_id)}`),
      );
      const jobs = await Promise.all(
        STEPS.map((step) => part((o) => keysOf(o).queueKey(stepJobId(o.order_id, step)))),
      );
      const index = await part((o) => keysOf(o).userIndex(o.user_id));
      const streams = await Promise.all(keyspace.all().map((k) => usage(system.store, k.queueKey('events'))));
      const eventsPerOrder = streams.reduce((a, b) => a + b, 0) / load.ids.length;
      const usersPerIndex = load.ids.length / 1000;
      const perOrder = (after.used - before.used) / load.ids.length;
      const datasetPerOrder = (after.dataset - before.dataset) / load.ids.length;
      const failed = orders.filter((o) => o.status === 'failed').length;
      const rows = [
        ['order record (hash: version + JSON document)', fixed(record, 0)],
        ['idempotency key', fixed(idempotency, 0)],
        ...STEPS.map((step, i) => [`BullMQ job hash, ${step} (kept as completed/failed)`, fixed(jobs[i], 0)]),
        [`user index (1000 users, ~${fixed(usersPerIndex, 1)} orders each), whole key`, fixed(index, 0)],
      ];
      log(`${fixed(perOrder, 0)} bytes per order (used_memory), record ${fixed(record, 0)} B`);
      return {
        headline: {
          measure: 'store bytes per retained order (masters, dataset)',
          orderflow: `${fixed(datasetPerOrder, 0)} B of data (record ${fixed(record, 0)} B)`,
          baseline: '–',
          ratio: '–',
          target: 'reported',
          met: null,
        },
        tables: [
          {
            title: `${load.ids.length} orders run to their end (${failed} failed and rolled back)`,
            columns: ['measure', 'bytes'],
            rows: [
              ['used_memory growth of the masters per order', fixed(perOrder, 0)],
              [
                'dataset.bytes growth per order (keys and values, no server overhead)',
                fixed(datasetPerOrder, 0),
              ],
              [
                'of which the queues’ event streams (capped at ~10,000 events per queue)',
                fixed(eventsPerOrder, 0),
              ],
              ['keys per order', fixed((keysAfter - keysBefore) / load.ids.length, 2)],
              ...rows.map(([k, v]) => [`median MEMORY USAGE: ${k}`, v!]),
            ],
          },
        ],
        notes: [
          'Each replica holds the same again. Completed BullMQ jobs are trimmed after an hour or past 10,000 per queue; the record (ORDER_TTL_S, 7 days by default) is what stays.',
          'dataset.bytes is more than the keys listed: BullMQ also keeps a processed-children hash per parent step (three per order), sorted-set entries per job, and each key costs its own dictionary and expiry entries.',
        ],
        data: {
          orders: load.ids.length,
          failed,
          before,
          after,
          perOrder,
          keysBefore,
          keysAfter,
          record,
          idempotency,
          jobs,
          index,
        },
      };
    });
  },
};
