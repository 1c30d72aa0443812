// A store that stops answering: the API's /ready turns 503, a worker node's watchdog stops it taking
// steps and its /ready turns 503; when the store answers again both recover without a restart.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_ROOT, type LocalCluster, startLocalCluster } from '../../scripts/local-cluster.js';
import { freePort, killAll, type ServiceProcess, spawnService } from '../support/processes.js';
import { waitFor } from '../support/system.js';

let cluster: LocalCluster;
const services: ServiceProcess[] = [];
let api = '';
let probe = '';

beforeAll(async () => {
  cluster = await startLocalCluster({
    freePorts: true,
    dir: path.join(DEFAULT_DATA_ROOT, `outage-${process.pid}`),
  });
  const env = { REDIS_NODES: cluster.seeds, KEY_NAMESPACE: 'out', STEP_MS: '50', HEARTBEAT_MS: '200' };
  const [apiPort, nodePort] = [await freePort(), await freePort()];
  api = `http://127.0.0.1:${apiPort}`;
  probe = `http://127.0.0.1:${nodePort}`;
  services.push(spawnService('api', 'server/main.ts', { ...env, PORT: String(apiPort) }));
  services.push(
    spawnService('node-w', 'workers/main.ts', {
      ...env,
      NODE_ID: 'node-w',
      NODE_PORT: String(nodePort),
      STORE_WATCHDOG_MS: '1000',
    }),
  );
  await Promise.all(
    services.map((s) => s.waitForLog((l) => l.event === 'listening' || l.event === 'node-started')),
  );
}, 60_000);

afterAll(async () => {
  for (const port of cluster?.ports ?? []) await cluster.killNode(port, 'SIGCONT').catch(() => undefined);
  await killAll(services);
  await cluster?.stop();
});

const status = async (url: string) => (await fetch(url).catch(() => null))?.status ?? 0;
const becomes = (url: string, expected: number, what: string) =>
  waitFor(async () => ((await status(url)) === expected ? true : undefined), 20_000, what);

describe('when the store stops answering and comes back', () => {
  it('reports not ready, stops taking steps, then recovers by itself', async () => {
    await becomes(`${api}/ready`, 200, 'the API to be ready');
    await becomes(`${probe}/ready`, 200, 'the node to be ready');

    for (const port of cluster.ports) await cluster.killNode(port, 'SIGSTOP');
    await becomes(`${api}/ready`, 503, 'the API to report not ready');
    await becomes(`${probe}/ready`, 503, 'the node to report not ready');
    expect(await status(`${api}/health`)).toBe(200);
    expect(await status(`${probe}/health`)).toBe(200);
    const node = services[1]!;
    const paused = await node.waitForLog((l) => l.event === 'store-unreachable');
    expect(paused.action).toBe('no new steps until it answers');

    for (const port of cluster.ports) await cluster.killNode(port, 'SIGCONT');
    await becomes(`${api}/ready`, 200, 'the API to be ready again');
    await becomes(`${probe}/ready`, 200, 'the node to be ready again');
    await node.waitForLog((l) => l.event === 'store-back');

    // And it takes steps again: an order placed now completes.
    const res = await fetch(`${api}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'after-outage' }),
    });
    expect(res.status).toBe(202);
    const { order_id } = (await res.json()) as { order_id: string };
    await waitFor(
      async () => {
        const order = (await (await fetch(`${api}/orders/${order_id}`)).json()) as { status: string };
        return order.status === 'completed' ? true : undefined;
      },
      20_000,
      'the order placed after the outage to complete',
    );
  }, 120_000);
});
