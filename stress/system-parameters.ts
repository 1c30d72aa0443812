// STEP_MS, the failure rate and the live capacity a report measures against: flags, then the API, then defaults.
import { type LiveNode, readLiveNodes } from './api-client.js';
import {
  DEFAULT_FAILURE_RATE,
  DEFAULT_STEP_MS,
  DEFAULT_WORKER_CONCURRENCY,
  type StressOptions,
} from './stress-options.js';
import { capacityOf, type Source, type SystemParameters } from './stress-report.js';

/** The value every live node reports for `field`; undefined when none does or they differ. */
function agreed(live: LiveNode[] | null, field: 'step_ms' | 'step_failure_rate'): number | undefined {
  const values = new Set(live?.map((n) => n[field]));
  const [only] = values;
  return values.size === 1 && typeof only === 'number' ? only : undefined;
}

/**
 * Resolves the parameters of the system under test. A flag wins over the API (the operator knows
 * best), the API over the defaults. STEP_MS and the failure rate come from the live nodes (GET
 * /nodes), when they all run the same. Without GET /nodes (404: an older API) capacity comes from
 * --nodes, or stays unknown rather than guessed.
 */
export async function resolveSystemParameters(options: StressOptions): Promise<SystemParameters> {
  const needsApi =
    options.stepMs === undefined || options.failureRate === undefined || options.nodes === undefined;
  const live = needsApi ? await readLiveNodes(options.url) : null;
  const pick = (flag: number | undefined, api: number | undefined, fallback: number): [number, Source] =>
    flag !== undefined ? [flag, 'flag'] : api !== undefined ? [api, 'api'] : [fallback, 'default'];
  const [stepMs, stepSource] = pick(options.stepMs, agreed(live, 'step_ms'), DEFAULT_STEP_MS);
  const [failureRate, rateSource] = pick(
    options.failureRate,
    agreed(live, 'step_failure_rate'),
    DEFAULT_FAILURE_RATE,
  );

  let nodes: number | null = null;
  let concurrency: number | null = null;
  let nodesSource: Source = 'unknown';
  if (options.nodes !== undefined) {
    nodes = options.nodes;
    concurrency = options.workerConcurrency ?? DEFAULT_WORKER_CONCURRENCY;
    nodesSource = 'flag';
  } else if (live !== null && live.length > 0) {
    nodes = live.length;
    // Nodes may differ; the mean keeps nodes × concurrency equal to the total of slots.
    concurrency = live.reduce((a, n) => a + n.concurrency, 0) / live.length;
    nodesSource = 'api';
  } else if (live !== null) {
    nodes = 0;
    concurrency = options.workerConcurrency ?? DEFAULT_WORKER_CONCURRENCY;
    nodesSource = 'api';
  }
  return {
    step_ms: stepMs,
    step_ms_source: stepSource,
    failure_rate: failureRate,
    failure_rate_source: rateSource,
    nodes,
    worker_concurrency: concurrency,
    nodes_source: nodesSource,
    capacity_steps_per_s: capacityOf(nodes, concurrency, stepMs),
  };
}
