// A store master killed under placement and processing load: its replica takes over, the API and the
// worker nodes recover without restart, and every acknowledged order reaches a terminal state.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_ROOT, type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import type { OrderRecord } from '../../shared/domain/order.js';
import { createKeyspace } from '../../shared/keys.js';
import { keySlot, shardOf } from '../../shared/sharding.js';
import { expectCleanHistory } from '../support/history.js';
import { freePort, killAll, type ServiceProcess, spawnService } from '../support/processes.js';
import { waitFor } from '../support/system.js';

let cluster: LocalCluster;
const services: ServiceProcess[] = [];
let api = '';

beforeAll(async () => {
  // A cluster of its own: killing a master must not disturb the other test files.
  cluster = await startLocalCluster({
    freePorts: true,
    dir: path.join(DEFAULT_DATA_ROOT, `failover-${process.pid}`),
  });
  const env = {
    REDIS_NODES: cluster.seeds,
    KEY_NAMESPACE: 'fo',
    STEP_MS: '300',
    LOCK_MS: '2000',
    STALLED_INTERVAL_MS: '1000',
    HEARTBEAT_MS: '300',
    STEP_FAILURE_RATE: '0.05',
    FAILURE_SEED: 'failover',
  };
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  services.push(spawnService('api', 'server/main.ts', { ...env, PORT: String(port) }));
  for (const id of ['node-1', 'node-2'])
    services.push(spawnService(id, 'workers/main.ts', { ...env, NODE_ID: id }));
  await Promise.all(
    services.map((s) => s.waitForLog((l) => l.event === 'listening' || l.event === 'node-started')),
  );
}, 60_000);

afterAll(async () => {
  await killAll(services);
  await cluster?.stop();
});

interface Outcome {
  orderId?: string;
  user: string;
  unavailable: number;
  ackedAt?: number;
}

/** Places one order as a careful client would: one Idempotency-Key, retried on 503/429/network errors. */
async function placeWithRetry(user: string, key: string, deadline: number): Promise<Outcome> {
  const outcome: Outcome = { user, unavailable: 0 };
  while (Date.now() < deadline) {
    const res = await fetch(`${api}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ user_id: user }),
    }).catch(() => null);
    if (res?.status === 202) {
      outcome.orderId = ((await res.json()) as { order_id: string }).order_id;
      outcome.ackedAt = Date.now();
      return outcome;
    }
    outcome.unavailable++;
    const wait = Number(res?.headers.get('retry-after') ?? '1') * 1000;
    await res?.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 1000)));
  }
  return outcome;
}

async function readOrder(id: string): Promise<OrderRecord | undefined> {
  const res = await fetch(`${api}/orders/${id}`).catch(() => null);
  return res?.status === 200 ? ((await res.json()) as OrderRecord) : undefined;
}

describe('when a master is killed under load', () => {
  it('loses no acknowledged order, duplicates no committed step, and finishes every order', async () => {
    const keyspace = createKeyspace(12, 'fo');
    const victimSlot = keySlot(`{${keyspace.shard(0).tag}}`);
    const status = await cluster.status();
    const victim = status.nodes.find(
      (n) => n.role === 'master' && n.slots.some(([a, b]) => a <= victimSlot && victimSlot <= b),
    )!;

    const loadEnd = Date.now() + 9000;
    const clients = Array.from({ length: 8 }, async (_, c) => {
      const outcomes: Outcome[] = [];
      for (let i = 0; Date.now() < loadEnd; i++) {
        outcomes.push(await placeWithRetry(`fo-user-${c}-${i % 7}`, `fo-${c}-${i}`, Date.now() + 30_000));
      }
      return outcomes;
    });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const killedAt = Date.now();
    await cluster.killNode(victim.port, 'SIGKILL');
    const outcomes = (await Promise.all(clients)).flat();

    const acked = outcomes.filter((o) => o.orderId);
    expect(acked.length).toBe(outcomes.length); // every client got its order acknowledged in the end
    const inVictimShards = acked.filter((o) => {
      const slot = keySlot(`{${keyspace.shard(shardOf(o.user, 12)).tag}}`);
      return victim.slots.some(([a, b]) => a <= slot && slot <= b);
    });
    expect(inVictimShards.length).toBeGreaterThan(0);

    const finished = await waitFor(
      async () => {
        const orders = await Promise.all(acked.map((o) => readOrder(o.orderId!)));
        return orders.every((o) => o?.status === 'completed' || o?.status === 'failed') ? orders : undefined;
      },
      90_000,
      'every acknowledged order to finish',
    );
    for (const order of finished) expectCleanHistory(order!);

    // The write gap: the longest time without an acknowledged placement in the killed master's shards.
    const acks = inVictimShards.map((o) => o.ackedAt!).sort((a, b) => a - b);
    const gaps = acks.slice(1).map((t, i) => t - acks[i]!);
    const gapMs = Math.max(...gaps.filter((_, i) => acks[i + 1]! > killedAt));
    const retried = outcomes.reduce((n, o) => n + o.unavailable, 0);
    process.stdout.write(
      `failover: ${acked.length} orders acknowledged (${inVictimShards.length} in the killed master's shards), ` +
        `${retried} retries, write gap ${gapMs} ms\n`,
    );
    expect(gapMs).toBeLessThan(30_000);
  }, 180_000);
});
