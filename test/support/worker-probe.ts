// A worker node spawned with its probe on a fixed NODE_PORT: a free port is only a candidate, so a
// port taken before the node bound it is retried elsewhere, and the probe must answer as this node.
import { setTimeout as sleep } from 'node:timers/promises';
import { findFreePort } from '../../scripts/kit/ports.js';
import { type ServiceEnv, type ServiceProcess, spawnService } from './processes.js';

/** The chosen port was bound by someone else before the child could bind it. */
export class PortTakenError extends Error {
  constructor(port: number, detail: string) {
    super(`port ${port} was taken before the child bound it: ${detail}`);
    this.name = this.constructor.name;
  }
}

// Below Linux's ephemeral range (32768+), where any outgoing connection could take the port, and
// clear of the test clusters' ports (18000-22700) and their bus ports (28000-32700).
const CANDIDATE_PORTS = { from: 23_000, to: 28_000, random: true };

/**
 * For a child that must be given a fixed port (a worker's NODE_PORT: there 0 turns the probe off):
 * calls `start` with a candidate port, and again with another one while it throws PortTakenError.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await findFreePort(CANDIDATE_PORTS);
    try {
      return await start(port);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= attempts) throw error;
    }
  }
}

/**
 * Resolves once the worker probe at `url` answers /health with `nodeId`: a process that merely
 * answers on that port (the one that took it) is never taken for this node. Throws PortTakenError
 * when the node ended with EADDRINUSE first, and a plain Error when it ended for any other reason.
 */
export async function waitForOwnProbe(probe: {
  url: string;
  nodeId: string;
  port: number;
  exited: Promise<unknown>;
  output: () => string;
  timeoutMs?: number;
}): Promise<void> {
  let ended = false;
  void probe.exited.then(() => {
    ended = true;
  });
  const deadline = Date.now() + (probe.timeoutMs ?? 60_000);
  for (;;) {
    if (ended) {
      const output = probe.output();
      if (/EADDRINUSE/.test(output)) throw new PortTakenError(probe.port, output.slice(-500));
      throw new Error(`${probe.nodeId} ended before its probe answered: ${output.slice(-2000)}`);
    }
    const health = await fetch(`${probe.url}/health`, { signal: AbortSignal.timeout(2000) })
      .then((res) => (res.ok ? (res.json() as Promise<{ node_id?: string }>) : null))
      .catch(() => null);
    if (health?.node_id === probe.nodeId) return;
    if (Date.now() > deadline)
      throw new Error(`${probe.nodeId}: no probe of its own at ${probe.url}: ${probe.output().slice(-2000)}`);
    await sleep(100);
  }
}

/** Starts a worker node with its probe on NODE_PORT (a free port, retried if taken) and resolves with the probe's URL. */
export async function spawnWorkerWithProbe(
  nodeId: string,
  env: ServiceEnv,
  started: ServiceProcess[],
): Promise<{ service: ServiceProcess; probe: string }> {
  return onFreePort(async (port) => {
    const service = spawnService(nodeId, 'workers/main.ts', {
      STEP_FAILURE_RATE: '0',
      ...env,
      HOST: '127.0.0.1',
      NODE_ID: nodeId,
      NODE_PORT: String(port),
    });
    started.push(service);
    const probe = `http://127.0.0.1:${port}`;
    await waitForOwnProbe({
      url: probe,
      nodeId,
      port,
      exited: service.exited,
      output: () => `${service.stderr()}\n${service.logs.map((l) => JSON.stringify(l)).join('\n')}`,
    });
    return { service, probe };
  });
}
