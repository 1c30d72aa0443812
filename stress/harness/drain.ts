// Times how fast worker processes work off a preloaded backlog: resume the paused queues, count completions.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Keyspace } from '../../shared/keys.js';
import type { Store } from '../../shared/store.js';
import { completedJobs, setQueuesPaused } from './store-reads.js';

/** How a backlog of `jobs` step jobs was worked off. */
export interface DrainTiming {
  jobs: number;
  done: number;
  seconds: number;
  /** Jobs per second from resume to the last completion. */
  overall_jobs_per_s: number;
  /** Jobs per second between 10 % and 90 % done: without start-up and the last stragglers. */
  steady_jobs_per_s: number | null;
  samples: Array<[number, number]>;
}

/** The time (ms since start) at which the sampled count first reached `level`, interpolated. */
export function crossing(samples: ReadonlyArray<[number, number]>, level: number): number | null {
  for (let i = 1; i < samples.length; i++) {
    const [t0, c0] = samples[i - 1]!;
    const [t1, c1] = samples[i]!;
    if (c1 >= level && c0 < level) return t0 + ((level - c0) / (c1 - c0)) * (t1 - t0);
  }
  return null;
}

/**
 * Resumes every shard queue of `keyspace` and samples the completed sets every 100 ms until `jobs`
 * jobs completed (or `timeoutMs`). Workers must already be running on the paused queues.
 */
export async function timeDrain(
  store: Store,
  keyspace: Keyspace,
  jobs: number,
  timeoutMs: number,
): Promise<DrainTiming> {
  const before = await completedJobs(store, keyspace);
  const started = Date.now();
  await setQueuesPaused(store, keyspace, false);
  const samples: Array<[number, number]> = [[0, 0]];
  let done = 0;
  while (done < jobs && Date.now() - started < timeoutMs) {
    await sleep(100);
    done = (await completedJobs(store, keyspace)) - before;
    samples.push([Date.now() - started, done]);
  }
  const end = crossing(samples, jobs) ?? samples.at(-1)![0];
  const t10 = crossing(samples, jobs * 0.1);
  const t90 = crossing(samples, jobs * 0.9);
  return {
    jobs,
    done,
    seconds: end / 1000,
    overall_jobs_per_s: done / (end / 1000),
    steady_jobs_per_s: t10 !== null && t90 !== null && t90 > t10 ? (jobs * 0.8) / ((t90 - t10) / 1000) : null,
    samples,
  };
}
