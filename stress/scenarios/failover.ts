// Failover: SIGKILL the master of some shards while orders are placed; no acknowledged order may be lost.
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../scripts/kit/wait.js';
import { isTerminal } from '../../shared/domain/order.js';
import { shardOfOrderId } from '../../shared/order-id.js';
import { withBenchSystem } from '../harness/bench-system.js';
import { fixed, placeLoad } from '../harness/load.js';
import type { Scenario } from '../harness/scenario.js';
import { readRecords, shardMasters } from '../harness/store-reads.js';
import type { Ack } from '../placement.js';

/** The longest time between consecutive acknowledgements in [from, to] (`acks` sorted by time), in s. */
function longestPause(acks: Ack[], from: number, to: number): number {
  const times = [from, ...acks.filter((a) => a.at > from && a.at < to).map((a) => a.at), to];
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest / 1000;
}

/** Placement load runs throughout; a third of the way in, the master serving shard 0 is killed. */
export const failoverScenario: Scenario = {
  name: 'failover',
  title: 'kill a master under load: acknowledged orders lost, write gap',
  estimateS: 50,
  async run(ctx) {
    const { quick, log } = ctx;
    const seconds = quick ? 10 : 30;
    // Short steps: 30 s of placement (~12k orders) must drain within the wait below on 2 nodes x 50
    // slots; with 500 ms steps it needed ~240 s and the scenario counted capacity as unfinished orders.
    const stepMs = quick ? 50 : 100;
    return withBenchSystem({ ...ctx, scenario: 'failover' }, async (system) => {
      const ns = system.namespace('fail');
      const keyspace = system.keyspace(ns);
      const api = await system.startApi(ns);
      await system.startNodes(ns, 2, { STEP_MS: String(stepMs), STEP_FAILURE_RATE: '0' });
      const masters = await shardMasters(system.cluster, keyspace);
      const victimPort = masters[0]!;
      const victimShards = masters.flatMap((port, shard) => (port === victimPort ? [shard] : []));

      const loading = placeLoad(api.url, { durationS: seconds, concurrency: 16, retries: 10 });
      await sleep((seconds / 3) * 1000);
      const killedAt = Date.now();
      await system.cluster.killNode(victimPort, 'SIGKILL');
      log(`killed master :${victimPort} (shards ${victimShards.join(', ')})`);
      // Back once replaced, as a replica: until then its shards have no replica and answer 503.
      const [load] = await Promise.all([loading, system.cluster.rejoinWhenReplaced(victimPort)]);

      const sorted = [...load.acks].sort((a, b) => a.at - b.at);
      const onVictim = (a: Ack) => victimShards.includes(shardOfOrderId(a.orderId, keyspace.shards) ?? -1);
      const inVictim = sorted.filter(onVictim);
      const elsewhere = sorted.filter((a) => !onVictim(a));
      // Requests in flight at the kill may still be acknowledged just after it (the write and WAIT
      // were done): the gap is the longest pause from a second before the kill to the end of the load.
      const loadEnd = Date.parse(load.report.finished_at);
      const victimGap = longestPause(inVictim, killedAt - 1000, loadEnd);
      const otherPause = longestPause(elsewhere, killedAt - 1000, loadEnd);

      let lost: string[] = [];
      let unfinished = 0;
      await waitUntil(
        'acknowledged orders to finish',
        async () => {
          const { orders, missing } = await readRecords(system.store, keyspace, load.ids);
          lost = missing;
          unfinished = orders.filter((o) => !isTerminal(o.status)).length;
          return unfinished === 0;
        },
        quick ? 60_000 : 180_000,
        { everyMs: 1000 },
      ).catch((error: Error) => log(error.message));
      const p = load.report.placement;
      log(
        `${load.ids.length} acknowledged, ${lost.length} lost, ${unfinished} unfinished; write gap ${fixed(victimGap, 2)} s`,
      );
      return {
        headline: {
          measure: 'acknowledged orders lost; write gap of the failed shards',
          orderflow: `${lost.length} lost of ${load.ids.length}, gap ${fixed(victimGap, 2)} s`,
          baseline: '–',
          ratio: '–',
          target: '0 lost; gap reported',
          met: lost.length === 0 && unfinished === 0,
        },
        tables: [
          {
            title: `Placement at 16 connections for ${seconds} s; master :${victimPort} SIGKILLed at ${fixed(seconds / 3)} s`,
            columns: ['measure', 'value'],
            rows: [
              ['acknowledged orders', String(load.ids.length)],
              ['acknowledged, then missing (lost)', String(lost.length)],
              ['acknowledged, not finished at the end', String(unfinished)],
              [`write gap, shards ${victimShards.join(', ')} (killed master)`, `${fixed(victimGap, 2)} s`],
              ['longest pause of the other shards, same period', `${fixed(otherPause, 2)} s`],
              [
                'first answers',
                Object.entries(p.statuses)
                  .map(([s, n]) => `${s} × ${n}`)
                  .join(', '),
              ],
              [
                'refused then retried (same key)',
                `${p.retries.retried} → ${p.retries.placed} placed, ${p.retries.gaveUp} gave up`,
              ],
              ['requests without an answer', String(p.error_count)],
            ],
          },
        ],
        notes: [
          'Lost means: the API answered 202, and after the failover the order has no record. With WAIT_REPLICAS 1 a 202 waits for a replica, which is the node promoted.',
          'The write gap is the longest time without an acknowledgement of an order of the shards the killed master served, from a second before the kill to the end of the load; the other shards are measured the same way.',
          'Other shards pause too when every client connection is stuck on a request to the failed shards (the API retries those for up to 3 s before answering 503).',
        ],
        data: {
          seconds,
          stepMs,
          victimPort,
          victimShards,
          killedAt,
          victimGap,
          otherPause,
          lost,
          unfinished,
          placement: p,
        },
      };
    });
  },
};
