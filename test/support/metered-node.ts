// Starts a test worker node wired like workers/main.ts: metrics published on heartbeat, drain closes it.
import type { Config } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { createNodeTelemetry } from '../../workers/node-metrics.js';
import type { WorkerRuntime } from '../../workers/runtime.js';
import type { StepHandlers } from '../../workers/steps/contract.js';
import type { TestSystem } from './system.js';

/**
 * A worker node of `system` whose metrics reach the API's /metrics and which obeys a drain request;
 * its steps are `handlers` (default: the simulated steps of its config).
 */
export function startMeteredNode(
  system: TestSystem,
  nodeId: string,
  overrides: Partial<Config> = {},
  handlers?: StepHandlers,
): WorkerRuntime {
  const telemetry = createNodeTelemetry({
    store: system.store,
    namespace: system.config.KEY_NAMESPACE,
    nodeId,
    heartbeatMs: overrides.HEARTBEAT_MS ?? system.config.HEARTBEAT_MS,
    logger: createLogger(system.config, { service: 'test-node' }),
  });
  const node: WorkerRuntime = system.startNode(
    { ...overrides, NODE_ID: nodeId },
    {
      telemetry,
      // workers/main.ts shuts the process down; in a test the node itself closes and deregisters.
      onDrainRequested: () => void node.close(),
      handlers,
    },
  );
  return node;
}
