// The chaos checker's account of each partition: requests to the isolated master's shards during the cut.
import { describe, expect, it } from 'vitest';
import type { PlacementRecord, RequestRecord } from '../../stress/chaos/journal.js';
import type { OrderJson } from '../../stress/chaos/order-json.js';
import { partitionCoverage } from '../../stress/chaos/partition-coverage.js';

const request = (sent_at: number, status: number | null, order_id?: string): RequestRecord => ({
  sent_at,
  answered_at: sent_at + 50,
  key: 'k',
  status,
  ...(status === null ? { error: 'ECONNRESET' } : {}),
  ...(order_id ? { order_id } : {}),
});
const placement = (id: number, user: string, requests: RequestRecord[]): PlacementRecord => ({
  id,
  user,
  key: 'k',
  body: '{}',
  requests,
  outcome: 'acked',
});
const record = (order_id: string, user_id: string) => ({ order_id, user_id }) as OrderJson;

describe('partitionCoverage', () => {
  const window = {
    target: 'master :7000',
    from: 10_000,
    to: 18_000,
    slots: [[0, 5460]] as Array<[number, number]>,
  };
  const records = [record('o-a1', 'alice'), record('o-b1', 'bob'), record('o-a2', 'alice')];
  const slotOf = new Map([
    ['o-a1', 100],
    ['o-a2', 100],
    ['o-b1', 9000],
  ]);

  it('counts the answers of requests sent during the cut by users of the isolated shards only', () => {
    const [cut] = partitionCoverage(
      [window],
      [
        placement(1, 'alice', [request(9_000, 202, 'o-a1'), request(11_000, 503), request(12_000, null)]),
        placement(2, 'alice', [request(17_000, 503), request(18_500, 202, 'o-a2')]),
        placement(3, 'bob', [request(12_000, 202, 'o-b1')]),
        placement(4, 'carol', [request(12_000, 503)]), // no record: shard unknown, left out
      ],
      records,
      slotOf,
    );
    expect(cut!.answers).toEqual({ 503: 2, ECONNRESET: 1 });
    expect(cut!.acked).toEqual([]);
  });

  it('lists the orders acknowledged on the isolated shards during the cut', () => {
    const [cut] = partitionCoverage(
      [window],
      [placement(1, 'alice', [request(15_000, 202, 'o-a2')])],
      records,
      slotOf,
    );
    expect(cut).toMatchObject({ target: 'master :7000', answers: { 202: 1 }, acked: ['o-a2'] });
  });
});
