// What a benchmark scenario is: a name, a run against its own system, and the result it returns.
import type { BenchLog } from './bench-system.js';

/** A table of a result, shown as Markdown in RESULTS.md. */
export interface ResultTable {
  title: string;
  columns: string[];
  rows: string[][];
}

/** The line of a scenario in the summary table of RESULTS.md. */
export interface Headline {
  measure: string;
  orderflow: string;
  baseline: string;
  /** orderflow / baseline (or the figure / its bound), formatted. */
  ratio: string;
  target: string;
  /** Whether the target was met; null when the scenario only reports. */
  met: boolean | null;
}

/** What a scenario hands back: the summary line, detail tables, notes, and raw data for the JSON file. */
export interface ScenarioResult {
  scenario: string;
  title: string;
  mode: 'quick' | 'full';
  started_at: string;
  duration_s: number;
  status: 'ok' | 'error';
  error?: string;
  headline: Headline;
  tables: ResultTable[];
  notes: string[];
  data: Record<string, unknown>;
}

/** What every scenario gets from the bench. */
export interface ScenarioContext {
  quick: boolean;
  log: BenchLog;
  /** Flags of `npm run bench` that only some scenarios read. */
  flags: {
    /** Recovery's BullMQ-defaults baseline: true runs it, false skips it, undefined runs it in full mode only. */
    defaultsBaseline?: boolean;
    /** LOG_LEVEL of every process the bench starts (info: as deployed). */
    logLevel: string;
    /** Entry of orderflow's worker nodes: workers/main.ts, or a candidate change to compare against it. */
    workerEntry: string;
    /** STEP_MS of the soak. */
    soakStepMs: number;
    /** When set, every process started writes a CPU profile under this directory on exit. */
    cpuProfDir?: string;
  };
}

/** The parts of a result a scenario fills in; the bench adds name, mode and timing. */
export type ScenarioOutcome = Pick<ScenarioResult, 'headline' | 'tables' | 'notes' | 'data'>;

export interface Scenario {
  name: string;
  title: string;
  /** Rough wall time in full mode, in seconds, for the plan printed at the start. */
  estimateS: number;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}
