// What one stress run does: the options behind the CLI's flags, with the defaults both share.

/** One stress run; `parseStressArgs` builds it from flags, `stressOptions` from a partial object. */
export interface StressOptions {
  /** API base URL, without a trailing slash. */
  url: string;
  /** Orders to place; with `durationS` too, whichever is reached first. */
  orders?: number;
  durationS?: number;
  /** HTTP connections placing orders. */
  concurrency: number;
  /** Distinct user ids: orders spread over `min(users, SHARDS)` shards. */
  users: number;
  /** At most this many placements per second in total. */
  rate?: number;
  /** Follow every placed order to its terminal state. */
  track: boolean;
  /** How tracking follows an order: GET polls, or its event stream (one stream per order). */
  trackVia: 'poll' | 'sse';
  /** GETs in flight at once, or with `sse` the streams open at once. */
  pollConcurrency: number;
  /** The share of orders cancelled at a random moment of their run (0: none). */
  cancelRate: number;
  /** The store's seeds (`host:port,...`): its commands/s are measured while tracking. */
  storeSeeds?: string;
  /** Tracking deadline after placement ended; unset: derived from capacity and backlog. */
  trackTimeoutS?: number;
  /** The system's STEP_MS and STEP_FAILURE_RATE; unset: the live nodes' (GET /nodes), then 5000 and 0.05. */
  stepMs?: number;
  failureRate?: number;
  /** Capacity inputs when GET /nodes is not available. */
  nodes?: number;
  workerConcurrency?: number;
  /** Retries of a 503/429 with the same Idempotency-Key. */
  retries: number;
  jsonFile?: string;
  progress: boolean;
}

export const DEFAULT_STEP_MS = 5000;
export const DEFAULT_FAILURE_RATE = 0.05;
export const DEFAULT_WORKER_CONCURRENCY = 50;

/** Fills what `partial` leaves out with the CLI's defaults (1000 orders unless a duration is given). */
export function stressOptions(partial: Partial<StressOptions> & { url: string }): StressOptions {
  return {
    orders: partial.durationS === undefined ? 1000 : undefined,
    concurrency: 50,
    users: 100,
    track: false,
    trackVia: 'poll',
    pollConcurrency: 8,
    cancelRate: 0,
    retries: 5,
    progress: false,
    ...partial,
    url: partial.url.replace(/\/+$/, ''),
  };
}
