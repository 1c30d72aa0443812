// RESULTS.md: the summary table of every scenario's last run, then each scenario's details. Pure.
import type { ResultTable, ScenarioResult } from './scenario.js';

type Stored = Omit<ScenarioResult, 'data'>;

/** The order of sections; a scenario not listed goes last. */
export const SCENARIO_ORDER = [
  'placement',
  'pipeline',
  'capacity',
  'dispatch',
  'recovery',
  'failover',
  'memory',
  'soak',
];

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** A Markdown table. */
export function markdownTable(columns: string[], rows: string[][]): string {
  return [
    `| ${columns.map(cell).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

const metText = (met: boolean | null) => (met === null ? 'reported' : met ? 'yes' : '**no**');

function section(result: Stored): string {
  const when = `${result.mode} mode, ${result.started_at.slice(0, 16).replace('T', ' ')} UTC, ${Math.round(result.duration_s)} s`;
  const parts = [`## ${result.scenario}: ${result.title}`, '', `_${when}_`, ''];
  if (result.status === 'error')
    parts.push(`**The scenario failed:** ${result.error ?? 'unknown error'}`, '');
  for (const table of result.tables as ResultTable[]) {
    parts.push(`**${table.title}**`, '', markdownTable(table.columns, table.rows), '');
  }
  if (result.notes.length) parts.push(...result.notes.map((note) => `- ${note}`), '');
  return parts.join('\n');
}

/** The whole RESULTS.md body (without its data block) for the stored results. */
export function renderResults(results: Record<string, Stored>): string {
  const ordered = Object.values(results).sort(
    (a, b) => (SCENARIO_ORDER.indexOf(a.scenario) + 1 || 99) - (SCENARIO_ORDER.indexOf(b.scenario) + 1 || 99),
  );
  const quick = ordered.some((r) => r.mode === 'quick');
  const rows = ordered.map((r) => [
    r.scenario,
    r.headline.measure,
    r.headline.orderflow,
    r.headline.baseline,
    r.headline.ratio,
    r.headline.target,
    r.status === 'error' ? '**error**' : metText(r.headline.met),
    r.mode,
  ]);
  return [
    '# orderflow benchmark results',
    '',
    'Written by `npm run bench` (`npm run bench -- <scenario>` redraws one section). Each scenario',
    'measures orderflow and its baseline in the same run, on the same dedicated local cluster, so the',
    'ratios hold where absolute numbers move with the machine. How the figures are taken and how to',
    'read them: [docs/BENCHMARKS.md](../../docs/BENCHMARKS.md).',
    '',
    ...(quick
      ? [
          '> **Some rows come from `--quick` runs** (seconds per scenario, smaller loads): they show that the',
          '> scenario works end to end, not what the system can do. Only full runs count against the targets.',
          '',
        ]
      : []),
    markdownTable(['scenario', 'measure', 'orderflow', 'baseline', 'ratio', 'target', 'met', 'mode'], rows),
    '',
    ...ordered.map(section),
  ].join('\n');
}
