// How each kind of fault is injected into the live system, and how it is healed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosCluster } from './chaos-cluster.js';
import type { PlannedFault } from './schedule.js';
import type { Services } from './services.js';

/** An injected fault: what it hit, and how to undo it. */
export interface Injected {
  target: string;
  /** For a master killed: the slots it served, whose last writes the failover may lose. */
  slots?: Array<[number, number]>;
  heal(): Promise<void>;
}

/** The one fault lane cannot act: the target does not run, or the store has no such node now. */
export class NoTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

const byPort = (ports: number[]) => [...ports].sort((a, b) => a - b);

/** The slot ranges the node at `port` serves now. */
async function slotsOf(store: ChaosCluster, port: number): Promise<Array<[number, number]>> {
  return (await store.cluster.status()).nodes.find((n) => n.port === port)?.slots ?? [];
}

/** Resolves once `port` no longer serves slots and three masters do: its replica took over. */
async function waitPromoted(store: ChaosCluster, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { masters } = await store.roles();
    if (masters.length === 3 && !masters.includes(port)) return;
    if (Date.now() > deadline) return; // restart anyway; the settle wait after the run reports a stuck store
    await sleep(250);
  }
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}

/** Applies `fault` now; the caller holds it for `holdMs`, then calls `heal()`. */
export async function injectFault(
  fault: PlannedFault,
  services: Services,
  store: ChaosCluster,
): Promise<Injected> {
  const workerId = services.workerIds[fault.target % services.workerIds.length]!;
  switch (fault.kind) {
    case 'kill-worker': {
      const worker = services.worker(workerId);
      if (!worker?.running) throw new NoTargetError(`${workerId} is not running`);
      worker.signal('SIGKILL');
      await worker.exited;
      return { target: workerId, heal: () => services.restartWorker(workerId) };
    }
    case 'pause-worker': {
      const worker = services.worker(workerId);
      if (!worker?.running) throw new NoTargetError(`${workerId} is not running`);
      worker.signal('SIGSTOP');
      return { target: workerId, heal: async () => worker.signal('SIGCONT') };
    }
    case 'kill-api': {
      const api = services.api;
      if (!api?.running) throw new NoTargetError('the API is not running');
      api.signal('SIGKILL');
      await api.exited;
      return { target: 'api', heal: async () => void (await services.restartApi()) };
    }
    case 'kill-master': {
      const masters = byPort((await store.roles()).masters);
      const port = masters[fault.target % masters.length]!;
      const slots = await slotsOf(store, port);
      await store.cluster.killNode(port, 'SIGKILL');
      return {
        target: `master :${port}`,
        slots,
        // Started again only once its replica took over, so it rejoins as a replica; back before the
        // promotion, it would come back as master with the last second of its AOF missing.
        heal: async () => {
          await waitPromoted(store, port);
          await store.cluster.startNode(port);
        },
      };
    }
    case 'lagging-failover': {
      // The master's replication stream is held back at its proxy (the link stays up, so WAIT keeps
      // counting the replica and times out), then the master dies: its replica takes over without
      // the writes of the lag. WAIT confirmed none of them, so a 202 among them was given without a
      // replica, and its order is lost: this finds exactly such acknowledgements.
      const masters = byPort((await store.roles()).masters);
      const port = masters[fault.target % masters.length]!;
      const proxy = store.proxyOf(port);
      const slots = await slotsOf(store, port);
      proxy.setFaults({ holdReplication: true });
      await sleep(fault.intensity);
      await store.cluster.killNode(port, 'SIGKILL');
      return {
        target: `master :${port}, its replication held back ${fault.intensity} ms`,
        slots,
        heal: async () => {
          proxy.setFaults({});
          await waitPromoted(store, port);
          await store.cluster.startNode(port);
        },
      };
    }
    case 'pause-replica': {
      const replicas = byPort((await store.roles()).replicas);
      const port = replicas[fault.target % replicas.length];
      if (port === undefined) throw new NoTargetError('no replica answers');
      await store.cluster.killNode(port, 'SIGSTOP');
      return { target: `replica :${port}`, heal: () => store.cluster.killNode(port, 'SIGCONT') };
    }
    case 'pause-store': {
      const pids = await store.cluster.pids();
      // One loop each way, so the nodes stop and resume as close to together as a loop allows.
      signalAll(pids, 'SIGSTOP');
      return { target: `all ${pids.length} nodes`, heal: async () => signalAll(pids, 'SIGCONT') };
    }
    case 'partition-master': {
      // The master is cut from its replica and from the other masters (bus and replication, both
      // ways) while clients still reach it: it takes writes until it sees itself in the minority
      // (cluster-node-timeout) and refuses them (CLUSTERDOWN); the majority promotes its replica.
      // Healed, it rejoins as that replica's replica and drops what it took alone. WAIT saw no
      // replica on either side, so a 202 among those writes would be an acknowledged order lost.
      const masters = byPort((await store.roles()).masters);
      const port = masters[fault.target % masters.length]!;
      const slots = await slotsOf(store, port);
      store.isolate(port);
      return {
        target: `master :${port}, cut from every other node`,
        slots,
        heal: async () => store.healPartitions(),
      };
    }
    case 'net-latency':
    case 'net-drop-replies':
    case 'net-reset': {
      const masters = byPort((await store.roles()).masters);
      const port = masters[fault.target % masters.length]!;
      const proxy = store.proxyOf(port);
      if (fault.kind === 'net-latency') proxy.setFaults({ latencyMs: fault.intensity });
      else if (fault.kind === 'net-drop-replies') proxy.setFaults({ dropReplyRate: fault.intensity });
      else proxy.setFaults({ resetRate: fault.intensity });
      return { target: `proxy of master :${port}`, heal: async () => proxy.setFaults({}) };
    }
  }
}
