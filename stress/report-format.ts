// The stress report as the terminal shows it: a two-column table per section.
import type { Distribution } from './report-math.js';
import type { StoreLoad } from './store-load.js';
import type { CancelReport, StressReport, SystemParameters, TrackingReport } from './stress-report.js';

const LABEL = 20;

/** A number for humans: thousands separated, `digits` decimals, "–" when missing. */
export function num(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A fraction as a percentage, "–" when missing. */
export const pct = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined || !Number.isFinite(value) ? '–' : `${num(value * 100, digits)} %`;

/** `p50 … p90 … p99 … max …` of a distribution, or "none" when it is empty. */
export function percentiles(d: Distribution, digits = 1): string {
  if (d.count === 0) return 'none';
  return `p50 ${num(d.p50, digits)}  p90 ${num(d.p90, digits)}  p99 ${num(d.p99, digits)}  max ${num(d.max, digits)}`;
}

const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .sort(([, a], [, b]) => b - a)
    .map(([key, n]) => `${key} × ${n}`)
    .join(', ') || 'none';

const row = (label: string, value: string) => `  ${label.padEnd(LABEL)}${value}`;

function systemLine(s: SystemParameters): string {
  const nodes =
    s.nodes === null
      ? 'nodes unknown (no GET /nodes; pass --nodes)'
      : `${s.nodes} node(s) × ${num(s.worker_concurrency, 0)} slots (${s.nodes_source})`;
  const capacity = s.capacity_steps_per_s === null ? '' : `: ${num(s.capacity_steps_per_s)} steps/s`;
  return `STEP_MS ${s.step_ms} (${s.step_ms_source}), p ${s.failure_rate} (${s.failure_rate_source}), ${nodes}${capacity}`;
}

function trackingLines(t: TrackingReport, s: SystemParameters): string[] {
  const f = t.failure;
  const verdict = f.consistent ? 'consistent' : 'outside the interval';
  const th = t.throughput;
  const capacity =
    th.capacity_steps_per_s === null
      ? 'capacity unknown'
      : `${num(th.capacity_steps_per_s)} steps/s capacity; steady throughput is ${pct(th.ratio)} of it`;
  const load = th.saturated ? 'saturated' : 'not saturated: the ratio is the load, not a limit';
  return [
    row(
      'finished',
      `completed ${t.completed}, failed ${t.failed}, cancelled ${t.cancelled}, stuck ${t.stuck}, lost ${t.lost}`,
    ),
    ...(t.stuck ? [row('stuck at', counts(t.stuck_by_status))] : []),
    row(
      'failure rate',
      `${pct(f.observed_rate)} (95 % CI ${pct(f.ci95.low)}–${pct(f.ci95.high)}), expected ${pct(f.expected_rate)}: ${verdict}`,
    ),
    ...(f.causes.other
      ? [row('failure causes', `simulated ${f.causes.simulated}, other ${f.causes.other}`)]
      : []),
    row('end to end (ms)', percentiles(t.end_to_end_ms)),
    row('processing (ms)', percentiles(t.processing_ms)),
    row(`overhead (ms)`, `${percentiles(t.overhead_ms)}  (beyond 4 × ${s.step_ms} ms)`),
    row('dispatch gap (ms)', percentiles(t.dispatch_gap_ms)),
    row(
      'throughput',
      `${num(th.steps_per_s)} steps/s over ${num(th.window_s)} s, steady ${num(th.steady_steps_per_s)}`,
    ),
    row("Little's law", capacity),
    row('offered', `${num(th.offered_steps_per_s)} steps/s (${load})`),
    row(
      t.via === 'sse' ? 'requests' : 'polls',
      `${t.polls} ${t.via === 'sse' ? 'streams and GETs' : 'GETs'}, ${t.poll_errors} failed`,
    ),
  ];
}

function cancelLines(c: CancelReport): string[] {
  const check = c.violations.length
    ? `${c.violations.length} records wrong: ${c.violations.slice(0, 3).join('; ')}`
    : 'every cancelled record undid exactly its completed steps, newest first';
  return [
    row('asked', `${c.asked} orders; answers ${counts(c.answers)}`),
    row(
      'cancelled',
      `${c.cancelled} orders ended cancelled; ${c.accepted_not_cancelled} accepted cancels overtaken by a failure`,
    ),
    row('check', check),
  ];
}

function storeLines(s: StoreLoad): string[] {
  return [
    row(
      'commands',
      `${num(s.commands_per_s)} /s on the masters over ${num(s.seconds)} s (${num(s.usec_per_s, 0)} µs/s)`,
    ),
    row(
      'costliest',
      s.top
        .slice(0, 5)
        .map((c) => `${c.command} ${num(c.calls_per_s)}/s`)
        .join(', '),
    ),
  ];
}

/** The report as text for a terminal. */
export function formatReport(report: StressReport): string {
  const p = report.placement;
  const o = report.options;
  const r = p.retries;
  const what = o.orders ? `${o.orders} orders` : `${o.duration_s} s of orders`;
  const lines = [
    `orderflow stress run ${report.run_id} against ${report.url}`,
    `  ${what} over ${o.concurrency} connections, ${o.users} users${o.rate ? `, at most ${o.rate}/s` : ''}`,
    '',
    'placement',
    row('requests', `${p.answered} answered of ${p.sent} sent in ${num(p.duration_s, 2)} s`),
    row(
      'rate',
      `${num(p.requests_per_s)} req/s (placed ${num(p.acknowledged_per_s)}/s, ${p.acknowledged} orders)`,
    ),
    row('latency (ms)', percentiles(p.latency_ms)),
    row('answers', counts(p.statuses)),
    row(
      'retries',
      r.retried
        ? `${r.retried} refused → ${r.placed} placed, ${r.gaveUp} gave up (${r.attempts} sent)`
        : 'none needed',
    ),
    ...(r.gaveUp ? [row('gave up on', counts(r.finalStatuses))] : []),
    row('errors', counts(p.errors)),
    '',
    `system  ${systemLine(report.system)}`,
  ];
  if (report.tracking)
    lines.push(
      '',
      `tracking (${report.tracking.tracked} orders)`,
      ...trackingLines(report.tracking, report.system),
    );
  if (report.cancels) lines.push('', 'cancels', ...cancelLines(report.cancels));
  if (report.store_load) lines.push('', 'store while tracking', ...storeLines(report.store_load));
  lines.push('', report.problems.length ? `result  FAILED: ${report.problems.join('; ')}` : 'result  OK');
  return lines.join('\n');
}
