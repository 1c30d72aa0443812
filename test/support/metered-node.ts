// Starts a test worker node wired like workers/main.ts: metrics published on heartbeat, drain closes it.
import type { Config } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { createNodeTelemetry, type NodeTelemetry } from '../../workers/node-metrics.js';
import type { StepHandlers } from '../../workers/steps/contract.js';
import type { WorkerNode } from '../../workers/worker-node.js';
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
): { node: WorkerNode; telemetry: NodeTelemetry } {
  const telemetry = createNodeTelemetry({
    store: system.store,
    namespace: system.config.KEY_NAMESPACE,
    nodeId,
    heartbeatMs: overrides.HEARTBEAT_MS ?? system.config.HEARTBEAT_MS,
    logger: createLogger(system.config, { service: 'test-node' }),
  });
  const node: WorkerNode = system.startNode(
    { ...overrides, NODE_ID: nodeId },
    {
      observer: telemetry.observer,
      onHeartbeat: telemetry.onHeartbeat,
      // workers/main.ts shuts the process down; in a test the node itself closes and deregisters.
      onDrainRequested: () => void node.close(),
      handlers,
    },
  );
  return { node, telemetry };
}
