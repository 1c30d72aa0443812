// `npm start` as a user runs it: a SIGKILLed worker node comes back while the rest keeps serving; a
// signal to its process group stops everything it started; a SIGKILLed launcher's leftovers never block the next.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { readLines } from '../../scripts/kit/lines.js';
import { baseEnv } from '../../scripts/kit/spawn.js';
import { localClusterPaths, stopLocalCluster } from '../../scripts/local-cluster.js';
import { findFreeBasePort, findNodesInDir, readPid, terminate } from '../../scripts/redis-process.js';
import type { OrderRecord } from '../../shared/domain/order.js';
import { expectCleanHistory } from '../support/history.js';
import { waitFor } from '../support/system.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Launch {
  child: ChildProcess;
  basePort: number;
  /** Parsed log lines of the launcher and its children, which share its stdout. */
  logs: Array<Record<string, unknown>>;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The URL and pids the banner prints once the API is ready. */
  ready: Promise<{ url: string; pids: Record<string, number> }>;
}

const launches: Launch[] = [];

/** `npm start -- --port <base>` in a process group of its own, from a clean environment. */
function launch(basePort: number, env: Record<string, string> = {}): Launch {
  const child = spawn('npm', ['start', '--', '--port', String(basePort)], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...baseEnv(),
      PORT: '0',
      WORKERS: '2',
      STEP_FAILURE_RATE: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  let text = '';
  const logs: Array<Record<string, unknown>> = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    readLines(stream, (line) => {
      if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = (async () => {
    const banner = await waitFor(
      async () => /API {10}(http:\S+)[\s\S]*pids {9}(\{.*\})/.exec(text) ?? undefined,
      90_000,
      `npm start to print its banner; output so far:\n${text.slice(-2000)}`,
    );
    return { url: banner[1]!, pids: JSON.parse(banner[2]!) as Record<string, number> };
  })();
  const started: Launch = { child, basePort, logs, output: () => text, exited, ready };
  launches.push(started);
  return started;
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const launcherPid = (l: Launch) => l.logs.find((line) => line.service === 'start')?.pid as number;
const redisPids = async (basePort: number) => {
  const { dir, ports } = localClusterPaths({ basePort });
  return (await Promise.all(ports.map((port) => readPid(dir, port)))).filter((pid) => pid !== null);
};

afterEach(async () => {
  // Whatever a failed test left: the launchers' groups, then the clusters by their pid files and dirs.
  for (const l of launches.splice(0)) {
    if (l.child.exitCode === null && l.child.signalCode === null) {
      try {
        process.kill(-l.child.pid!, 'SIGKILL');
      } catch {}
    }
    await stopLocalCluster({ basePort: l.basePort });
    await terminate(await findNodesInDir(localClusterPaths({ basePort: l.basePort }).dir));
  }
}, 60_000);

async function placeOrders(url: string, count: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: `${prefix}-${i}` }),
    });
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as { order_id: string }).order_id);
  }
  return ids;
}

interface NodeView {
  id: string;
  pid: number;
  active: number;
}
const nodes = async (url: string) =>
  ((await (await fetch(`${url}/nodes`)).json()) as { nodes: NodeView[] }).nodes;

describe('when a worker node is SIGKILLed under npm start', () => {
  it('restarts it under the same NODE_ID while the API keeps answering, and every order finishes', async () => {
    const l = launch(await findFreeBasePort(6), { STEP_MS: '1500' });
    const { url } = await l.ready;
    const ids = await placeOrders(url, 40, 'launcher-kill');
    const victim = await waitFor(
      async () => (await nodes(url)).find((n) => n.id === 'worker-1' && n.active > 0),
      20_000,
      'worker-1 to run steps',
    );

    let healthFailures = 0;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const ok = await fetch(`${url}/health`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ok) healthFailures++;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    process.kill(victim.pid, 'SIGKILL');
    const back = await waitFor(
      async () => (await nodes(url)).find((n) => n.id === 'worker-1' && n.pid !== victim.pid),
      // Generous: a restart imports the whole worker again, slow on loaded cores.
      45_000,
      'worker-1 to come back with a new pid',
    );
    expect(isRunning(back.pid)).toBe(true);
    expect(l.logs.some((line) => line.event === 'process-exited' && line.pid === victim.pid)).toBe(true);

    const orders = await waitFor(
      async () => {
        const all = await Promise.all(
          ids.map(async (id) => (await (await fetch(`${url}/orders/${id}`)).json()) as OrderRecord),
        );
        return all.every((o) => o.status === 'completed' || o.status === 'failed') ? all : undefined;
      },
      90_000,
      'every order to finish',
    );
    probing = false;
    await prober;
    expect(healthFailures).toBe(0);
    for (const order of orders) {
      expect(order.status).toBe('completed');
      expectCleanHistory(order);
    }
    // The kill hit steps in flight: their run on the dead process is kept as abandoned.
    const abandoned = orders
      .flatMap((o) => o.steps.flatMap((s) => s.attempts))
      .filter((a) => a.outcome === 'abandoned');
    expect(abandoned.length).toBeGreaterThan(0);
    expect(abandoned.every((a) => a.node_id === 'worker-1')).toBe(true);
  }, 180_000);
});

describe("when the launcher's whole process group gets SIGTERM under load", () => {
  it('stops every process it started, the cluster included, and exits 0', async () => {
    const l = launch(await findFreeBasePort(6), { STEP_MS: '2000' });
    const { url, pids } = await l.ready;
    await placeOrders(url, 20, 'launcher-term');
    const started = [launcherPid(l), ...Object.values(pids), ...(await redisPids(l.basePort))];
    expect(started.length).toBe(1 + 3 + 6);
    // As a terminal, a CI runner or systemd does it: npm and the launcher both get it, and npm forwards
    // it once more (the kernel may merge the two while one is pending; process-signals covers both).
    process.kill(-l.child.pid!, 'SIGTERM');
    expect(await l.exited).toEqual({ code: 0, signal: null });
    expect(started.filter(isRunning)).toEqual([]);
    expect(existsSync(localClusterPaths({ basePort: l.basePort }).dir)).toBe(false);
  }, 120_000);
});

describe('when the launcher itself is SIGKILLed', () => {
  it('its processes stop by themselves, and the next npm start comes up on its leftovers', async () => {
    const basePort = await findFreeBasePort(6);
    const first = launch(basePort);
    const { pids } = await first.ready;
    const redis = await redisPids(basePort);
    process.kill(launcherPid(first), 'SIGKILL');
    await waitFor(
      async () => (Object.values(pids).some(isRunning) ? undefined : true),
      30_000,
      'the API and worker nodes to stop once their supervisor is gone',
    );
    expect(redis.filter(isRunning)).toEqual(redis);

    // The next launcher adopts the cluster it finds through the pid files...
    const second = launch(basePort);
    await second.ready;
    expect(second.logs.some((line) => line.event === 'cluster-adopted')).toBe(true);
    expect(await redisPids(basePort)).toEqual(redis);

    // ...and, killed in turn with its data dir gone too, leaves nodes that only their working dir names.
    process.kill(launcherPid(second), 'SIGKILL');
    await rm(localClusterPaths({ basePort }).dir, { recursive: true, force: true });
    const third = launch(basePort);
    const { pids: thirdPids } = await third.ready;
    expect(redis.filter(isRunning)).toEqual([]);
    const fresh = await redisPids(basePort);
    expect(fresh.length).toBe(6);

    process.kill(-third.child.pid!, 'SIGTERM');
    expect(await third.exited).toEqual({ code: 0, signal: null });
    expect([...fresh, ...Object.values(thirdPids)].filter(isRunning)).toEqual([]);
  }, 240_000);
});
