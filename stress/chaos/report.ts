// The chaos run's printout: each anomaly with its history (requests, answers, record, faults), then a summary.
import type { Anomaly } from './anomaly.js';
import type { CheckResult } from './checker.js';
import type { PlacementRecord } from './journal.js';
import type { FaultRecord } from './nemesis.js';
import type { OrderJson } from './order-json.js';

/** What the printout needs besides the check: the journal and the faults, on the run's time axis. */
export interface RunHistory {
  seed: string;
  durationS: number;
  nodes: number;
  /** Whether the run drew network partitions (--partitions). */
  partitions: boolean;
  runStart: number;
  placements: PlacementRecord[];
  faults: FaultRecord[];
}

const secs = (ms: number | null) => (ms === null ? '?' : `${(ms / 1000).toFixed(3)}s`);

function requestLines(p: PlacementRecord): string[] {
  const head = `placement #${p.id} user ${p.user} key ${p.key ?? '(none)'} → ${p.outcome}`;
  return [
    head,
    ...p.requests.map((r) => {
      const answer = r.status === null ? `no answer (${r.error})` : String(r.status);
      const extra = [
        r.order_id && `order ${r.order_id}`,
        r.replayed && 'replayed',
        r.retry_after_s && `retry-after ${r.retry_after_s}`,
        r.generated_key && `generated key ${r.generated_key}`,
        r.repeat && '(deliberate repeat)',
      ].filter(Boolean);
      return `    t+${secs(r.sent_at)} → t+${secs(r.answered_at)}  key ${r.key ?? '-'}  ${answer} ${extra.join(' ')}`;
    }),
  ];
}

function recordLines(o: OrderJson, runStart: number): string[] {
  const t = (iso: string | null) => (iso === null ? '—' : `t+${secs(Date.parse(iso) - runStart)}`);
  const lines = [
    `record: ${o.status} (current step ${o.current_step}), created ${t(o.created_at)}, completed ${t(o.completed_at)}` +
      (o.failure ? `, failure at ${o.failure.step}: ${o.failure.reason}` : ''),
  ];
  for (const s of o.steps) {
    const attempts = s.attempts.map((a) => `${a.node_id} ${t(a.started_at)}–${t(a.ended_at)} ${a.outcome}`);
    lines.push(`    ${s.name.padEnd(16)}${s.status.padEnd(12)}${attempts.join('; ') || 'no attempts'}`);
  }
  for (const r of o.rollback)
    lines.push(`    undo ${r.step.padEnd(15)}${r.node_id} ${t(r.started_at)}–${t(r.completed_at)}`);
  lines.push(`    raw: ${JSON.stringify(o)}`);
  return lines;
}

/** Faults whose time overlaps [from, to] (ms since the run began). */
function faultsDuring(faults: FaultRecord[], from: number, to: number): string[] {
  return faults
    .filter(
      (f) => f.started_at !== null && f.started_at <= to && (f.healed_at ?? Number.POSITIVE_INFINITY) >= from,
    )
    .map((f) => `${f.kind} on ${f.target} t+${secs(f.started_at)}–t+${secs(f.healed_at)}`);
}

/** Anomalies of one order (or one placement) together: its history is printed once. */
function groupByOrder(anomalies: Anomaly[]): Anomaly[][] {
  const groups = new Map<string, Anomaly[]>();
  for (const a of anomalies) {
    const key = a.order_id ?? `${a.kind} ${a.detail}`;
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  return [...groups.values()];
}

/** The history of one group of anomalies, as lines. */
function historyLines(group: Anomaly[], index: number, total: number, run: RunHistory): string[] {
  const [first] = group as [Anomaly];
  const kinds = [...new Set(group.map((a) => a.kind))].join(', ');
  const lines = [
    `── anomaly ${index}/${total}: ${kinds}${first.order_id ? ` — order ${first.order_id}` : ''}${first.user ? ` (user ${first.user})` : ''}`,
    ...group.map((a) => `  ${a.kind}: ${a.detail}`),
  ];
  const ids = new Set(group.flatMap((a) => a.placements));
  const placements = run.placements.filter((p) => ids.has(p.id));
  for (const p of placements.slice(0, 6)) lines.push(...requestLines(p).map((l) => `  ${l}`));
  if (placements.length > 6) lines.push(`  … and ${placements.length - 6} more placements`);
  const record = group.find((a) => a.record)?.record;
  if (record) lines.push(...recordLines(record, run.runStart).map((l) => `  ${l}`));
  const times = placements.flatMap((p) => p.requests.flatMap((r) => [r.sent_at, r.answered_at]));
  if (record) {
    times.push(Date.parse(record.created_at) - run.runStart);
    if (record.completed_at) times.push(Date.parse(record.completed_at) - run.runStart);
  }
  if (times.length > 0) {
    const during = faultsDuring(run.faults, Math.min(...times) - 2000, Math.max(...times) + 2000);
    lines.push(`  faults around it: ${during.join('; ') || 'none'}`);
  }
  return lines;
}

/** Every anomaly with its history (requests, answers, record, faults around it), grouped by order. */
export function anomalyReport(anomalies: Anomaly[], run: RunHistory): string[] {
  const groups = groupByOrder(anomalies);
  return groups.flatMap((group, i) => [...historyLines(group, i + 1, groups.length, run), '']);
}

/** Counts by key, as `a 2, b 1`. */
const tally = (keys: string[]) => {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
};

/** The faults actually injected, by kind. */
export const faultsByKind = (faults: FaultRecord[]) => {
  const counts: Record<string, number> = {};
  for (const f of faults) if (f.started_at !== null) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
  return counts;
};

/** The summary block: faults, placements, orders, anomaly counts, notes, verdict. */
export function summaryLines(check: CheckResult, run: RunHistory): string[] {
  const injected = run.faults.filter((f) => f.started_at !== null);
  const skipped = run.faults.filter((f) => f.started_at === null && f.note && f.note !== 'not reached');
  const requests = run.placements.reduce((n, p) => n + p.requests.length, 0);
  const c = check.counts;
  return [
    `chaos seed ${run.seed}${run.partitions ? ' with partitions' : ''}, ${run.durationS} s of faults, ${run.nodes} worker nodes`,
    `faults injected: ${tally(injected.map((f) => f.kind))}${skipped.length ? `; skipped: ${tally(skipped.map((f) => `${f.kind} (${f.note})`))}` : ''}`,
    `placements ${run.placements.length} (${run.placements.filter((p) => p.key).length} with a key), requests ${requests}: answers ${tally(run.placements.flatMap((p) => p.requests.map((r) => String(r.status ?? r.error))))}`,
    `orders acknowledged ${check.acked}; records by status: ${tally(Object.entries(check.records).flatMap(([s, n]) => Array(n).fill(s)))}; /stats ${JSON.stringify(check.stats)}`,
    `lost ${c.lost}, stuck ${c.stuck}, overlapping ${c.overlap}, duplicated ${c.duplicate}, orphaned ${c.orphan}, unaccounted ${c.unaccounted}, ` +
      `double-commit ${c['double-commit']}, saga ${c.saga}, unlisted ${c.unlisted}, conflict ${c.conflict}, stats ${c.stats}`,
    ...check.partitions.map(
      (p) =>
        `partition of ${p.target} t+${secs(p.from)}–t+${secs(p.to)}: requests of its shards sent during the cut answered ` +
        `${tally(Object.entries(p.answers).flatMap(([a, n]) => Array<string>(n).fill(a)))}; acknowledged ${p.acked.length}, lost of them ` +
        `${p.acked.filter((id) => check.anomalies.some((a) => a.kind === 'lost' && a.order_id === id)).length}`,
    ),
    `notes: ${tally(check.notes.map((n) => n.kind))}; waited ${check.settled_s.toFixed(1)} s after the client stopped for every order to be terminal`,
    check.anomalies.length === 0
      ? 'verdict: no anomaly'
      : `verdict: ${check.anomalies.length} ANOMALIES in ${new Set(check.anomalies.map((a) => a.order_id ?? a.detail)).size} orders or counts`,
  ];
}
