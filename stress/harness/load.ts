// Placement load for benchmarks: the stress tool's own runStress, with every acknowledged order kept.
import type { Ack } from '../placement.js';
import { runStress } from '../run-stress.js';
import type { StressOptions } from '../stress-options.js';
import type { StressReport } from '../stress-report.js';

/** A finished load: the stress report and every acknowledged order, in the order acknowledged. */
export interface LoadResult {
  report: StressReport;
  acks: Ack[];
  ids: string[];
}

/**
 * Places orders against `url` as `npm run stress` would (untracked unless asked), so the benchmarks
 * and the CLI measure placement the same way. Progress stays off: the bench prints its own lines.
 */
export async function placeLoad(
  url: string,
  options: Partial<StressOptions>,
  signal?: AbortSignal,
): Promise<LoadResult> {
  const acks: Ack[] = [];
  const report = await runStress(
    { users: 1000, retries: 10, ...options, url, progress: false },
    { signal, onAck: (ack) => acks.push(ack) },
  );
  return { report, acks, ids: acks.map((a) => a.orderId) };
}

/** `value` with `digits` decimals, for tables; "–" when missing. */
export function fixed(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

/** A ratio as a percentage with one decimal. */
export function percent(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? '–'
    : `${(value * 100).toFixed(1)} %`;
}
