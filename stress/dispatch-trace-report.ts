// `node --import tsx stress/dispatch-trace-report.ts [LOG_DIR] [--from MS --to MS]`: tabulates the
// `dispatch-trace` lines (workers/dispatch-trace.ts) that the nodes of a DISPATCH_TRACE=1 bench run
// logged: each phase of the gap at p50/p90/p99, what the slowest 1 % of gaps spent their time on,
// and each node's event-loop delay, GC and CPU wait. Default LOG_DIR: the dispatch scenario's logs;
// default window: the backlog run's, from stress/results/dispatch.json when it is there.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../scripts/kit/spawn.js';
import { distribution } from './report-math.js';

const PHASES = ['gap', 'write', 'to_move', 'move', 'pickup', 'prep', 'gc', 'runq', 'cpu'] as const;
type Phase = (typeof PHASES)[number];
export type TraceLine = Record<Phase, number | null> & { via: string; at: number; node: string };

/** The `dispatch-trace` lines of one log's text (pino JSON, one object a line), with `node` set. */
export function traceLines(text: string, node: string, event = 'dispatch-trace'): TraceLine[] {
  const lines: TraceLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(`"${event}"`)) continue;
    try {
      const parsed = JSON.parse(line) as { event?: string };
      if (parsed.event === event) lines.push({ ...(parsed as TraceLine), node });
    } catch {
      // a line cut short by the process's exit
    }
  }
  return lines;
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');

/** The report's rows: per phase p50/p90/p99/max over all gaps, and its mean over the slowest `tail` share. */
export function phaseTable(lines: readonly TraceLine[], tail = 0.01) {
  const slowest = [...lines]
    .sort((a, b) => b.gap! - a.gap!)
    .slice(0, Math.max(1, Math.round(lines.length * tail)));
  return PHASES.map((phase) => {
    const all = distribution(lines.map((l) => l[phase]).filter((v): v is number => v !== null));
    const slow = distribution(slowest.map((l) => l[phase]).filter((v): v is number => v !== null));
    return { phase, ...all, tail_mean: slow.mean };
  });
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { from: { type: 'string' }, to: { type: 'string' } },
  });
  const dir = positionals[0] ?? path.join(REPO_ROOT, '.data', 'bench', 'logs', 'dispatch');
  let window = values.from && values.to ? { from: Number(values.from), to: Number(values.to) } : undefined;
  const results = path.join(REPO_ROOT, 'stress', 'results', 'dispatch.json');
  if (!window && existsSync(results)) {
    const json = JSON.parse(readFileSync(results, 'utf8')) as {
      data?: { window?: { from: number; to: number } };
    };
    window = json.data?.window;
  }
  const all: TraceLine[] = [];
  const summaries: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.log') && !f.startsWith('api'))) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const lines = traceLines(text, file.replace(/\.log$/, ''));
    const inWindow = window ? lines.filter((l) => l.at >= window.from && l.at <= window.to) : lines;
    if (window && inWindow.length === 0) continue;
    all.push(...inWindow);
    for (const s of traceLines(text, file, 'dispatch-trace-summary') as unknown as Array<
      Record<string, unknown>
    >) {
      const { seconds, loop_delay_ms, gc, main_thread_ms } = s;
      summaries.push(`${file}: ${JSON.stringify({ seconds, loop_delay_ms, gc, main_thread_ms })}`);
    }
  }
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(
    `${all.length} hand-overs${window ? ` with completions in [${window.from}, ${window.to}]` : ''} from ${dir}`,
  );
  const via = new Map<string, number>();
  for (const l of all) via.set(l.via, (via.get(l.via) ?? 0) + 1);
  out(`via: ${[...via].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  out('| phase ms | p50 | p90 | p99 | max | mean | mean of the slowest 1 % of gaps |');
  out('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of phaseTable(all)) {
    out(
      `| ${r.phase} | ${fmt(r.p50)} | ${fmt(r.p90)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${fmt(r.mean)} | ${fmt(r.tail_mean)} |`,
    );
  }
  for (const s of summaries) out(s);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
