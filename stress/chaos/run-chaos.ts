// One chaos run: the real system on a proxied local cluster, the client, the nemesis, then the checker.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ChaosCluster, startChaosCluster } from './chaos-cluster.js';
import { type CheckResult, checkRun } from './checker.js';
import { startClient } from './client.js';
import { faultWindows } from './fault-windows.js';
import { type CrashRecord, type Nemesis, startNemesis } from './nemesis.js';
import { createPrng } from './prng.js';
import type { ProxyCounts } from './proxy.js';
import type { RunHistory } from './report.js';
import { type FaultKind, planFaults } from './schedule.js';
import { createServices, type Services } from './services.js';

export interface ChaosOptions {
  seed: string;
  durationS: number;
  nodes: number;
  /** The bound: every order must be terminal this long after the faults stop. */
  quietS: number;
  /** Holds the cluster's data and the processes' logs. */
  runDir: string;
  stepMs: number;
  /** Only these kinds of fault (all when absent). */
  faults?: readonly FaultKind[];
  /** Adds network partitions (partition-master) to the store lane. */
  partitions?: boolean;
  log: (message: string) => void;
  /** Aborting tears the run down at once (every process stopped) and rejects. */
  signal: AbortSignal;
}

export interface ChaosOutcome {
  history: RunHistory;
  check: CheckResult;
  crashes: CrashRecord[];
  /** Problems of the store after the faults, if it never became healthy again. */
  storeProblems: string[];
  /** What each proxy did: `client` ones carry clients and replication, `bus` ones the cluster bus. */
  proxies: Array<{ role: 'client' | 'bus'; port: number } & ProxyCounts>;
  timings: { startup_s: number; faults_s: number; settle_s: number; check_s: number };
}

const USERS = Array.from({ length: 16 }, (_, i) => `chaos-user-${String(i).padStart(2, '0')}`);
/** After the faults stop, how long the client may go on retrying placements under way. */
const RETRY_AFTER_FAULTS_MS = 20_000;

/** Rejects as soon as `signal` aborts, whatever `promise` is doing. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Runs the system under faults for `durationS`, heals it, and checks it. Whatever happens (an
 * error, an abort), every process it started is stopped and the cluster's data removed.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosOutcome> {
  const { seed, durationS, nodes, quietS, runDir, stepMs, faults, partitions, log, signal } = options;
  const runStart = Date.now();
  const random = createPrng(seed);
  let store: ChaosCluster | undefined;
  let services: Services | undefined;
  let nemesis: Nemesis | undefined;
  // The last resort when this process exits without the cleanup below (a forced third signal).
  const killOnExit = () => {
    services?.killAllSync();
    store?.cluster.killSync();
  };
  process.on('exit', killOnExit);
  try {
    store = await abortable(startChaosCluster(runDir, random.fork('proxies')), signal);
    const namespace = `chaos${process.pid}`;
    services = createServices({
      logDir: path.join(runDir, 'logs'),
      nodes,
      env: {
        REDIS_NODES: store.seeds,
        KEY_NAMESPACE: namespace,
        STEP_MS: String(stepMs),
        COMPENSATION_MS: String(Math.round(stepMs / 2)),
        STEP_FAILURE_RATE: '0.05',
        FAILURE_SEED: `chaos-${seed}`,
      },
    });
    await abortable(services.startAll(), signal);
    const started = Date.now();
    log(
      `system up in ${((started - runStart) / 1000).toFixed(1)} s: API ${services.apiUrl}, ${nodes} worker nodes, store ${store.seeds}`,
    );

    const plan = planFaults(random.fork('faults'), durationS * 1000, nodes, { only: faults, partitions });
    log(`schedule: ${plan.map((f) => `${(f.at / 1000).toFixed(1)}s ${f.kind}#${f.target}`).join(', ')}`);
    const live = services;
    const client = startClient({
      apiUrl: () => live.apiUrl,
      users: USERS,
      customers: 6,
      meanGapMs: 1000,
      random: random.fork('client'),
      runStart,
    });
    nemesis = startNemesis(plan, { services, store, runStart, log });
    await sleep(durationS * 1000, undefined, { signal });

    const faultsEnd = Date.now();
    log('faults stop; healing the system, the client finishes the placements under way');
    const clientDone = client.stop(faultsEnd + RETRY_AFTER_FAULTS_MS);
    await abortable(nemesis.stop(), signal);
    let storeProblems = await store.problems();
    while (storeProblems.length > 0 && Date.now() < faultsEnd + quietS * 1000) {
      await sleep(500, undefined, { signal });
      storeProblems = await store.problems();
    }
    await abortable(clientDone, signal);
    const settled = Date.now();
    log(`checking (every order must be terminal by ${quietS} s after the faults stopped)`);
    const check = await abortable(
      checkRun({
        api: () => live.apiUrl,
        store: {
          seeds: store.cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
          natMap: store.natMap,
        },
        namespace,
        users: USERS,
        placements: client.placements,
        runStart,
        quietUntil: faultsEnd + quietS * 1000,
        ...faultWindows(nemesis.records),
      }),
      signal,
    );
    return {
      history: {
        seed,
        durationS,
        nodes,
        partitions: partitions === true,
        runStart,
        placements: client.placements,
        faults: nemesis.records,
      },
      check,
      crashes: nemesis.crashes,
      storeProblems,
      proxies: [
        ...store.proxies.map((p) => ({ role: 'client' as const, port: p.port, ...p.counts })),
        ...store.busProxies.map((p) => ({ role: 'bus' as const, port: p.port, ...p.counts })),
      ],
      timings: {
        startup_s: (started - runStart) / 1000,
        faults_s: (faultsEnd - started) / 1000,
        settle_s: (settled - faultsEnd) / 1000,
        check_s: (Date.now() - settled) / 1000,
      },
    };
  } finally {
    // Torn down in order: no more faults or restarts, stopped processes resumed, proxies clean,
    // then the processes (while the store still answers, so they drain), then the store.
    nemesis?.abandon();
    if (store) {
      for (const pid of await store.cluster.pids()) process.kill(pid, 'SIGCONT');
      for (const proxy of store.proxies) proxy.setFaults({});
      store.healPartitions();
    }
    await services?.stopAll(signal.aborted ? 5000 : 15_000);
    await store?.copyLogs(path.join(runDir, 'logs'));
    await store?.stop();
    process.off('exit', killOnExit);
  }
}
