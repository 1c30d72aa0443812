// The worker node process wired once: its parts (defaults from `workerParts`), the node, its probe on
// NODE_PORT, and one close order. workers/main.ts, the tests and (through main.ts) the bench use it.
import { serve } from '@hono/node-server';
import type { Tracer } from '@opentelemetry/api';
import type { Config } from '../shared/config.js';
import { createKeyspace, type Keyspace } from '../shared/keys.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createNodeRegistry, type NodeRegistry, registryTtlMs } from '../shared/node-registry.js';
import { type CloseStep, closeInOrder } from '../shared/process.js';
import { createStore, type Store } from '../shared/store.js';
import { createNodeHealthApp } from './health-server.js';
import { createNodeTelemetry, type NodeTelemetry } from './node-metrics.js';
import type { StepHandlers } from './steps/contract.js';
import { simulatedHandlers } from './steps/simulated.js';
import { newInstance } from './takeover.js';
import { createWorkerNode, type WorkerNode } from './worker-node.js';

/** What a worker node is built from. Any part passed in is the caller's to close; the rest the runtime's. */
export interface WorkerParts {
  logger: Logger;
  /** This run of the node: `<NODE_ID>@<hex>`. */
  instance: string;
  /** The name of the store's connections, which survivors look for in CLIENT LIST. */
  connectionName: string;
  store: Store;
  keyspace: Keyspace;
  registry: NodeRegistry;
  /** The work of each step and its undo; default: the simulated steps of the config. */
  handlers: StepHandlers;
  /** Metrics fed by the steps and published on each heartbeat; null: none. */
  telemetry: NodeTelemetry | null;
  /** Reported in the registry. */
  version: string;
  now: () => number;
}

/** The defaults of every part not in `given`, built from `config`; nothing connects until used. */
export function workerParts(config: Config, given: Partial<WorkerParts> = {}): WorkerParts {
  const logger = given.logger ?? createLogger(config, { service: 'worker' });
  // Named per run, not per NODE_ID: a supervisor restarts a dead node under the same id at once, and
  // the survivors must still see the dead run's connections gone (workers/takeover.ts).
  const instance = given.instance ?? newInstance(config.NODE_ID);
  const connectionName = given.connectionName ?? `orderflow-worker-${instance}`;
  const store = given.store ?? createStore(config, { connectionName });
  const telemetry =
    given.telemetry !== undefined
      ? given.telemetry
      : createNodeTelemetry({
          store,
          namespace: config.KEY_NAMESPACE,
          nodeId: config.NODE_ID,
          heartbeatMs: config.HEARTBEAT_MS,
          logger,
        });
  return {
    logger,
    instance,
    connectionName,
    store,
    keyspace: given.keyspace ?? createKeyspace(config.SHARDS, config.KEY_NAMESPACE),
    registry:
      given.registry ??
      createNodeRegistry(store, config.KEY_NAMESPACE, { ttlMs: registryTtlMs(config.HEARTBEAT_MS) }),
    handlers: given.handlers ?? simulatedHandlers(config),
    telemetry,
    version: given.version ?? 'unknown',
    now: given.now ?? Date.now,
  };
}

export interface WorkerRuntimeOptions extends Partial<WorkerParts> {
  /** With tracing on: a span per run of a step and per undo, in the order's trace. */
  tracer?: Tracer;
  /** Called once when an operator asks this node to drain; workers/main.ts shuts the process down. */
  onDrainRequested?: () => void;
  /** Log the phases of each hand-over to the next step (workers/dispatch-trace.ts). */
  dispatchTrace?: boolean;
}

/** What a worker process serves, and how it starts and stops. */
export interface WorkerRuntime {
  config: Config;
  logger: Logger;
  /** The node: id, readiness, what it did, its stats. */
  node: Pick<WorkerNode, 'nodeId' | 'instance' | 'ready' | 'consuming' | 'active' | 'counts' | 'stats'>;
  telemetry: NodeTelemetry | null;
  /** The probe's URL once started with NODE_PORT > 0. */
  readonly probeUrl: string | undefined;
  /** Binds the probe (a taken port rejects, before any step is taken), then starts the node. */
  start(): Promise<void>;
  /** Probe, node (drains its steps), last metrics, then the store it built; each even if one throws. Idempotent. */
  close(): Promise<void>;
}

/** Builds one worker node process from `config` and the parts given; nothing runs until `start()`. */
export function createWorkerRuntime(config: Config, options: WorkerRuntimeOptions = {}): WorkerRuntime {
  const parts = workerParts(config, options);
  const { logger, store, telemetry } = parts;
  const node = createWorkerNode({
    ...parts,
    config,
    observer: telemetry?.observer,
    onHeartbeat: telemetry?.onHeartbeat,
    onDrainRequested: options.onDrainRequested,
    tracer: options.tracer,
    dispatchTrace: options.dispatchTrace,
  });
  let probe: ReturnType<typeof serve> | undefined;
  let probeUrl: string | undefined;
  let closing: Promise<void> | undefined;

  async function bindProbe(): Promise<void> {
    const app = createNodeHealthApp(node, telemetry?.metrics.registry);
    probe = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const server = serve({ fetch: app.fetch, hostname: config.HOST, port: config.NODE_PORT }, () =>
        resolve(server),
      );
      server.once('error', reject);
    });
    probeUrl = `http://${config.HOST}:${config.NODE_PORT}`;
    logger.info({ event: 'probe-listening', url: probeUrl });
  }

  return {
    config,
    logger,
    node,
    telemetry,
    get probeUrl() {
      return probeUrl;
    },
    async start() {
      // Bound before the node takes a step: a taken port stops the process at once with one line,
      // instead of an unhandled 'error' after it already started steps.
      if (config.NODE_PORT > 0) await bindProbe();
      node.start();
    },
    close() {
      closing ??= (async () => {
        const steps: CloseStep[] = [];
        const server = probe;
        if (server)
          steps.push({ name: 'probe server', run: () => new Promise((r) => server.close(() => r())) });
        steps.push({ name: 'worker node', run: () => node.close() });
        if (telemetry) steps.push({ name: 'metrics (last counts)', run: () => telemetry.flush() });
        if (!options.store) steps.push({ name: 'store', run: async () => void (await store.quit()) });
        await closeInOrder(steps, logger);
      })();
      return closing;
    },
  };
}
