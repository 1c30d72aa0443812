// The arithmetic of a stress report: percentiles, the Wilson interval, Little's law. Pure, no I/O.

/** The q-quantile (0..1) of ascending `sorted`, interpolating between closest ranks (R-7, numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (q <= 0) return sorted[0]!;
  if (q >= 1) return sorted.at(-1)!;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const fraction = position - below;
  const low = sorted[below]!;
  const high = sorted[Math.min(below + 1, sorted.length - 1)]!;
  return low + (high - low) * fraction;
}

/** The summary every latency-like series gets in a report. */
export interface Distribution {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Count, min, mean, p50, p90, p99 and max of `values` (any order); NaN fields when empty. */
export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted.length ? sorted[0]! : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted.length ? sorted.at(-1)! : Number.NaN,
  };
}

/** A two-sided interval for a proportion. */
export interface Interval {
  low: number;
  high: number;
}

/**
 * The Wilson score interval of `successes` out of `trials` at normal quantile `z` (1.96: 95 %).
 * Chosen over the textbook normal interval because it stays inside [0, 1] and keeps its coverage
 * for the small counts and small rates (a few failures in a few hundred orders) a stress run sees.
 */
export function wilsonInterval(successes: number, trials: number, z = 1.96): Interval {
  if (trials <= 0) return { low: 0, high: 1 };
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** The chance that an order fails when each of its `steps` steps fails independently with `p`. */
export function expectedOrderFailureRate(p: number, steps = 4): number {
  return 1 - (1 - p) ** steps;
}

/**
 * Little's law capacity in steps per second: `nodes × concurrency` slots, each busy `stepMs` per
 * step, finish at most that many steps per second. Null when a step takes no time (no bound).
 */
export function littleCapacity(nodes: number, concurrency: number, stepMs: number): number | null {
  if (stepMs <= 0) return null;
  return (nodes * concurrency * 1000) / stepMs;
}

/** a / b, or null when either is missing or b is not positive. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return a / b;
}

/** Least-squares slope of y over x (units of y per unit of x); null with fewer than two distinct x. */
export function linearSlope(xs: readonly number[], ys: readonly number[]): number | null {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return null;
  const mx = xs.slice(0, n).reduce((a, b) => a + b, 0) / n;
  const my = ys.slice(0, n).reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx === 0 ? null : sxy / sxx;
}

/** The median of `values` (any order); NaN when empty. */
export function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}
