// Takeover on death (TAKEOVER=registry): a node known dead loses its steps to one survivor at once; a
// node that is only slow keeps them; a node declared dead that wakes up writes nothing it lost.
import { afterEach, describe, expect, it } from 'vitest';
import type { OrderRecord } from '../../shared/domain/order.js';
import { registryKeys } from '../../shared/keys.js';
import { createLiveness } from '../../shared/node-registry.js';
import { parseStepJobId } from '../../shared/order-id.js';
import { expectCleanHistory } from '../support/history.js';
import { killAll, type ServiceProcess, spawnWorker } from '../support/processes.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

// Locks far longer than any stop here (renewed every 15 s), so whatever takes a step over is the
// registry, never a lock expiry.
const LOCKS = { LOCK_MS: '30000', STALLED_INTERVAL_MS: '15000' };

let system: TestSystem;
const services: ServiceProcess[] = [];
afterEach(async () => {
  // The nodes first: close() deletes the test's namespace, which a live node would write to again.
  await killAll(services.splice(0));
  await system?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startNodes(ids: string[], env: Record<string, string>) {
  const nodes = ids.map((id) => spawnWorker(id, system.config, { ...LOCKS, ...env }, services));
  const started = await Promise.all(
    nodes.map((n) => n.waitForLog((l) => l.event === 'node-started', 60_000)),
  );
  return nodes.map((node, i) => ({ node, instance: String(started[i]!.instance) }));
}

async function place(count: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 10) {
    const batch = Array.from({ length: Math.min(10, count - i) }, (_, j) => `${prefix}-${i + j}`);
    const placed = await Promise.all(batch.map((user_id) => system.place({ user_id })));
    ids.push(...placed.map((p) => p.body.order_id as string));
  }
  return ids;
}

const readAll = async (ids: string[]) =>
  (await Promise.all(ids.map((id) => system.orders.read(id)))).map((v) => v!.order);
/** The orders with a run of `nodeId` in progress. */
const runningOn = (orders: OrderRecord[], nodeId: string) =>
  orders.filter((o) =>
    o.steps.some((s) => s.attempts.some((a) => a.node_id === nodeId && a.outcome === 'running')),
  );
const takeoversOf = (node: ServiceProcess, instance: string) =>
  node.logs.filter((l) => l.event === 'takeover-claimed' && l.dead_instance === instance);

describe('when a node under full load is paused', () => {
  it('keeps its steps through a 1 s pause, loses them to a survivor after 5 s, and writes nothing to them on waking', async () => {
    system = createTestSystem();
    // 3 × 20 slots of 1 s steps with a backlog behind them: every slot busy for the whole test.
    const env = { STEP_MS: '1000', WORKER_CONCURRENCY: '20' };
    const [paused, ...survivors] = await startNodes(['node-paused', 'node-s1', 'node-s2'], env);
    const ids = await place(300, 'load');
    await waitFor(
      async () => ((await runningOn(await readAll(ids), 'node-paused')).length >= 15 ? true : undefined),
      30_000,
      'node-paused to run steps',
    );

    // Stopped for 1 s exactly: a timer of this busy test process could fire late and stop it longer.
    paused!.node.signal('SIGSTOP');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    paused!.node.signal('SIGCONT');
    // Twice the death timeout (2 s) later, nobody has taken it for dead.
    await sleep(4000);
    for (const s of survivors) expect(takeoversOf(s.node, paused!.instance), s.node.name).toEqual([]);
    expect(paused!.node.logs.filter((l) => l.event === 'declared-dead' || l.event === 'lock-lost')).toEqual(
      [],
    );

    paused!.node.signal('SIGSTOP');
    const stoppedAt = Date.now();
    await sleep(300); // a write sent before the stop may still land
    const held = runningOn(await readAll(ids), 'node-paused').map((o) => o.order_id);
    expect(held.length).toBeGreaterThan(0);
    const takenOver = await Promise.race(
      survivors.map((s) =>
        s.node.waitForLog(
          (l) => l.event === 'node-taken-over' && l.dead_instance === paused!.instance,
          15_000,
        ),
      ),
    );
    // Every step it had started, and any it had only fetched, released.
    const released = (takenOver.job_ids as string[]).map((jobId) => parseStepJobId(jobId)!.order_id);
    expect(released.length).toBe(takenOver.released);
    for (const id of held) expect(released).toContain(id);
    await sleep(Math.max(0, stoppedAt + 5000 - Date.now()));
    const wokeAt = Date.now();
    paused!.node.signal('SIGCONT');

    await paused!.node.waitForLog((l) => l.event === 'declared-dead', 10_000);
    const lost = await paused!.node.waitForLog((l) => l.event === 'lock-lost', 10_000);
    expect(released).toContain(lost.order_id);
    const finished = await Promise.all(ids.map((id) => system.waitForTerminal(id, 60_000)));
    const releasedJobs = new Set(takenOver.job_ids as string[]);
    for (const order of finished) {
      expectCleanHistory(order);
      const runs = order.steps.flatMap((s) => s.attempts.map((a) => ({ step: s.name, ...a })));
      const abandoned = runs.filter((r) => r.outcome === 'abandoned');
      // Only the runs it held when stopped for 5 s were lost: none to the 1 s pause.
      expect(
        abandoned.map((r) => r.node_id),
        order.order_id,
      ).toEqual(held.includes(order.order_id) ? ['node-paused'] : []);
      for (const run of runs.filter((r) => releasedJobs.has(`${order.order_id}.${r.step}`))) {
        // Of a step taken from it, its run is abandoned (its writes after waking refused), or was
        // committed before the stop (BullMQ had not yet moved the job on), or is a new run it took
        // from the wait list after it woke (the released job is anyone's to take); or it had not started.
        if (run.node_id === 'node-paused') {
          const before = run.outcome === 'completed' && Date.parse(run.ended_at!) <= stoppedAt;
          const retaken = run.outcome === 'completed' && Date.parse(run.started_at) >= wokeAt;
          expect(
            run.outcome === 'abandoned' || before || retaken,
            `${order.order_id} ${run.outcome} ${run.started_at}-${run.ended_at}`,
          ).toBe(true);
        } else expect(run.outcome, order.order_id).toBe('completed');
      }
    }
    // The woken node is still a worker: it completed steps after it woke.
    expect(
      paused!.node.logs.some(
        (l) => l.event === 'step-completed' && Date.parse(String(l.time)) > stoppedAt + 5000,
      ),
    ).toBe(true);
  }, 90_000);
});

describe('when a node holding steps is SIGKILLed beside two survivors', () => {
  it('has exactly one survivor release its steps, which run again within seconds', async () => {
    system = createTestSystem();
    // Steps far longer than the test: the victim's runs can only end by being taken over.
    const env = { STEP_MS: '60000', WORKER_CONCURRENCY: '10' };
    const [victim] = await startNodes(['node-victim'], env);
    const ids = await place(10, 'held');
    await waitFor(
      async () => ((await runningOn(await readAll(ids), 'node-victim')).length === 10 ? true : undefined),
      30_000,
      'node-victim to run all 10 steps',
    );
    const survivors = await startNodes(['node-k1', 'node-k2'], env);
    await sleep(1500); // both survivors beat a few times

    const killedAt = Date.now();
    victim!.node.signal('SIGKILL');
    await victim!.node.exited;
    const resumed = await waitFor(
      async () => {
        const orders = await readAll(ids);
        const next = orders.map((o) => o.steps[0]!.attempts[1]);
        return next.every((a) => a !== undefined) ? orders : undefined;
      },
      30_000,
      'every held step to run again',
    );
    const worstMs = Math.max(
      ...resumed.map((o) => Date.parse(o.steps[0]!.attempts[1]!.started_at) - killedAt),
    );
    // The bench holds the ≤ 3 s figure (stress/scenarios/recovery.ts); this bound only has to tell
    // the registry from the lock path, which cannot act before the 30 s locks expire.
    expect(worstMs).toBeLessThan(3000 + 5000);
    for (const order of resumed) {
      expect(order.steps[0]!.attempts.map((a) => [a.node_id, a.outcome])).toEqual([
        ['node-victim', 'abandoned'],
        [expect.stringMatching(/^node-k[12]$/), 'running'],
      ]);
    }

    const winners = survivors.filter((s) => takeoversOf(s.node, victim!.instance).length > 0);
    expect(winners.map((w) => takeoversOf(w.node, victim!.instance).length)).toEqual([1]);
    const claim = await system.store.get(
      registryKeys(system.config.KEY_NAMESPACE).takeoverClaim(victim!.instance),
    );
    expect(claim).toBe(winners[0]!.instance);
    const report = await winners[0]!.node.waitForLog((l) => l.event === 'node-taken-over');
    expect(report).toMatchObject({ dead_instance: victim!.instance, released: 10, moved_to_wait: 10 });
  }, 90_000);
});

describe('when several survivors claim one silent node at once', () => {
  it('lets exactly one of them clean it up, and none once it beats again', async () => {
    system = createTestSystem();
    const liveness = createLiveness(system.store, system.config.KEY_NAMESPACE);
    const options = { suspectMs: 300, silenceMs: 5000, quietMs: 600 };
    await liveness.beat('ghost@1', '', options);
    const silent = await waitFor(async () => {
      await sleep(100);
      const { silent } = await liveness.beat('watcher@1', '', options);
      return silent.find((s) => s.instance === 'ghost@1' && s.ageMs >= 600);
    }, 5000);
    const claims = await Promise.all(
      Array.from({ length: 5 }, (_, i) => liveness.claim(silent, `survivor@${i}`, 10_000)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);

    // A node that beats again after being seen silent is alive: a claim on what was seen fails.
    await liveness.beat('phoenix@1', '', options);
    const quiet = await waitFor(async () => {
      await sleep(100);
      const { silent } = await liveness.beat('watcher@1', '', options);
      return silent.find((s) => s.instance === 'phoenix@1');
    }, 5000);
    await liveness.beat('phoenix@1', '', options);
    expect(await liveness.claim(quiet, 'survivor@9', 10_000)).toBe(false);
  });
});

describe('when every node fell silent at once (the registry out of reach)', () => {
  it('judges nobody until the quiet time has passed, so the live nodes can beat again first', async () => {
    system = createTestSystem();
    const liveness = createLiveness(system.store, system.config.KEY_NAMESPACE);
    const options = { suspectMs: 300, silenceMs: 700, quietMs: 1500 };
    await liveness.beat('a@1', '', options);
    await liveness.beat('b@1', '', options);
    await sleep(1200); // nobody beats: as if the registry's master were failing over
    const back = Date.now();
    const seen: Array<{ at: number; silent: string[] }> = [];
    while (Date.now() - back < 2400) {
      const { silent } = await liveness.beat('a@1', '', options);
      seen.push({ at: Date.now() - back, silent: silent.map((s) => s.instance) });
      await sleep(100);
    }
    // b@1 never came back: it is judged, but only once the quiet time after the silence is over.
    expect(seen.filter((s) => s.at < 1300).every((s) => s.silent.length === 0)).toBe(true);
    expect(seen.at(-1)!.silent).toEqual(['b@1']);
  });
});
