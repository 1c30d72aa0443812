// Writes a scenario's result: stress/results/<scenario>.json, and its rows in stress/results/RESULTS.md.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../../scripts/kit/spawn.js';
import { renderResults } from './results-markdown.js';
import type { ScenarioResult } from './scenario.js';

export const RESULTS_DIR = path.join(REPO_ROOT, 'stress', 'results');
const MARKDOWN = path.join(RESULTS_DIR, 'RESULTS.md');
const DATA_MARK = /<!-- bench-data (.*) -->/s;

/** A result without its raw data: what RESULTS.md keeps so the next run can redraw every section. */
export type StoredResult = Omit<ScenarioResult, 'data'>;

/**
 * The results RESULTS.md already holds, from the data block at its end. The JSON files are not
 * committed, so RESULTS.md carries its own data: one scenario run alone updates its section only.
 */
export async function readStoredResults(file = MARKDOWN): Promise<Record<string, StoredResult>> {
  try {
    const text = await readFile(file, 'utf8');
    const match = DATA_MARK.exec(text);
    return match ? (JSON.parse(match[1]!) as Record<string, StoredResult>) : {};
  } catch {
    return {};
  }
}

/** Saves `result` as JSON and redraws RESULTS.md with it in place of that scenario's previous one. */
export async function saveResult(result: ScenarioResult): Promise<{ json: string; markdown: string }> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const json = path.join(RESULTS_DIR, `${result.scenario}.json`);
  await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);
  const stored = await readStoredResults();
  const { data: _data, ...summary } = result;
  stored[result.scenario] = summary;
  // `--` may not appear inside an HTML comment; \u002d reads back as the same character.
  const block = JSON.stringify(stored).replaceAll('--', '-\\u002d');
  await writeFile(MARKDOWN, `${renderResults(stored)}\n<!-- bench-data ${block} -->\n`);
  return { json, markdown: MARKDOWN };
}
