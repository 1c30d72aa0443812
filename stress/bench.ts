// `npm run bench [-- <scenario>...] [--quick]`: runs benchmark scenarios, writes JSON and RESULTS.md.
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodeOf, onStopSignals } from '../shared/process.js';
import { saveResult } from './harness/results.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './harness/scenario.js';
import { capacityScenario } from './scenarios/capacity.js';
import { chaosScenario } from './scenarios/chaos.js';
import { dispatchScenario } from './scenarios/dispatch.js';
import { failoverScenario } from './scenarios/failover.js';
import { memoryScenario } from './scenarios/memory.js';
import { pipelineScenario } from './scenarios/pipeline.js';
import { placementScenario } from './scenarios/placement.js';
import { recoveryScenario } from './scenarios/recovery.js';
import { scaleScenario } from './scenarios/scale.js';
import { soakScenario } from './scenarios/soak.js';

const SUITE: Scenario[] = [
  placementScenario,
  pipelineScenario,
  capacityScenario,
  dispatchScenario,
  recoveryScenario,
  failoverScenario,
  memoryScenario,
];
// Named only: the soak and chaos are minutes long and verdicts rather than measurements; scale is
// five minutes of 1 to 16 nodes, read for docs/SCALING.md rather than held to a target.
const ALL = [...SUITE, soakScenario, chaosScenario, scaleScenario];

const USAGE = `usage: npm run bench [-- <scenario>...] [--quick] [--skip-defaults-baseline | --defaults-baseline]

  scenarios: ${ALL.map((s) => s.name).join(', ')}
  (none named: every scenario but soak, chaos and scale; they run only when named: \`npm run bench -- soak\`)
  --quick                   a few seconds per scenario, small loads: to check that it works, not to measure
  --skip-defaults-baseline  recovery without its BullMQ-defaults baseline (saves about two minutes)
  --defaults-baseline       run that baseline even with --quick (it waits out 30 s locks: about two minutes)
  --log-level L             LOG_LEVEL of the processes started (default info, as deployed)
  --soak-step-ms MS         STEP_MS of the soak (default 1000)
  --worker-entry FILE       run worker nodes from FILE instead of workers/main.ts (to measure a candidate change)
  --cpu-prof DIR            every process the bench starts writes a V8 CPU profile to DIR/<process>/ on exit`;

const log = (message: string) =>
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      'skip-defaults-baseline': { type: 'boolean' },
      'defaults-baseline': { type: 'boolean' },
      'log-level': { type: 'string', default: 'info' },
      'soak-step-ms': { type: 'string', default: '1000' },
      'worker-entry': { type: 'string', default: 'workers/main.ts' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const unknown = positionals.filter((name) => !ALL.some((s) => s.name === name));
  if (unknown.length)
    throw new Error(`unknown scenario ${unknown.join(', ')}; one of ${ALL.map((s) => s.name).join(', ')}`);
  const chosen = positionals.length ? ALL.filter((s) => positionals.includes(s.name)) : SUITE;
  const defaultsBaseline = values['skip-defaults-baseline']
    ? false
    : values['defaults-baseline']
      ? true
      : undefined;
  const soakStepMs = Number(values['soak-step-ms']);
  if (!Number.isInteger(soakStepMs) || soakStepMs < 10)
    throw new Error('--soak-step-ms must be an integer ≥ 10');
  const logLevel = values['log-level']!;
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'silent'].includes(logLevel))
    throw new Error(`--log-level ${logLevel}?`);
  const cpuProfDir = values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined;
  const flags = { defaultsBaseline, logLevel, soakStepMs, workerEntry: values['worker-entry']!, cpuProfDir };
  return { help: values.help === true, quick: values.quick === true, flags, chosen };
}

async function runOne(
  scenario: Scenario,
  quick: boolean,
  flags: ScenarioContext['flags'],
): Promise<ScenarioResult> {
  const started = new Date();
  const scoped = (message: string) => log(`[${scenario.name}] ${message}`);
  const base = {
    scenario: scenario.name,
    title: scenario.title,
    mode: quick ? ('quick' as const) : ('full' as const),
    started_at: started.toISOString(),
  };
  const machine = { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', node: process.version };
  try {
    const outcome = await scenario.run({ quick, log: scoped, flags });
    const duration_s = (Date.now() - started.getTime()) / 1000;
    // A candidate worker build must never pass for the real one in RESULTS.md.
    const candidate = flags.workerEntry !== 'workers/main.ts';
    const notes = candidate
      ? [
          ...outcome.notes,
          `Worker nodes ran from ${flags.workerEntry}, a candidate change, not workers/main.ts.`,
        ]
      : outcome.notes;
    const data = { ...outcome.data, machine, worker_entry: flags.workerEntry, log_level: flags.logLevel };
    return { ...base, ...outcome, notes, data, duration_s, status: 'ok' };
  } catch (error) {
    scoped(`failed: ${(error as Error).stack ?? String(error)}`);
    return {
      ...base,
      duration_s: (Date.now() - started.getTime()) / 1000,
      status: 'error',
      error: (error as Error).message,
      headline: { measure: '–', orderflow: '–', baseline: '–', ratio: '–', target: '–', met: false },
      tables: [],
      notes: [],
      data: { machine },
    };
  }
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { chosen, quick, flags } = parsed;
  const estimate = chosen.reduce((a, s) => a + s.estimateS, 0);
  log(
    `running ${chosen.map((s) => s.name).join(', ')}${quick ? ' (quick)' : `, about ${Math.ceil(estimate / 60)} min`}`,
  );
  let failed = 0;
  for (const scenario of chosen) {
    log(`[${scenario.name}] ${scenario.title}`);
    const result = await runOne(scenario, quick, flags);
    const { json } = await saveResult(result);
    const h = result.headline;
    log(
      `[${scenario.name}] ${result.status} in ${Math.round(result.duration_s)} s: ${h.orderflow} vs ${h.baseline}, ratio ${h.ratio}, target ${h.target}: ${h.met === null ? 'reported' : h.met ? 'met' : 'MISSED'} → ${json}`,
    );
    if (result.status === 'error') failed++;
  }
  log('RESULTS.md updated: stress/results/RESULTS.md');
  return failed ? 1 : 0;
}

// A Ctrl-C ends the run; the process groups' exit handlers kill what the scenarios started.
onStopSignals((signal) => process.exit(exitCodeOf(signal)));
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
