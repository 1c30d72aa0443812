// `npm run chaos -- [--seed S] [--duration SEC] [--nodes N] [--partitions]`: a seeded fault-injection run and its checker.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exitCodeOf, FORCE_EXIT_SIGNALS, onStopSignals } from '../../shared/process.js';
import { anomalyReport, summaryLines } from './report.js';
import { runChaos } from './run-chaos.js';
import { type FaultKind, PARTITION_FAULTS, PROCESS_FAULTS, STORE_FAULTS } from './schedule.js';
import { summarize } from './summary.js';

const USAGE = `usage: npm run chaos -- [--seed S] [--duration SEC] [--nodes N] [--partitions] [--quiet SEC] [--step-ms MS] [--faults K,K] [--report FILE] [--keep]

  --seed S        seeds the fault schedule, the client and the step failures (default: random, printed)
  --duration SEC  how long faults are injected (default 60)
  --nodes N       worker nodes (default 3)
  --partitions    also partition the store's network: a master cut from its replica and the other
                  masters while clients still reach it (partition-master); without it, a seed
                  draws the schedule it drew before partitions existed
  --quiet SEC     after the faults, every order must be terminal within this (default 60)
  --step-ms MS    STEP_MS of the worker nodes (default 400)
  --faults K,K    only these kinds of fault (the names below), to hunt one interaction
  --report FILE   also write the summary as JSON to FILE
  --keep          keep .data/chaos-<pid>/ (logs, history.json) even after a clean run

Faults: worker SIGKILL / SIGSTOP past its lock (kill-worker, pause-worker), API SIGKILL (kill-api),
master SIGKILL (kill-master), a failover of a master whose replication is held back
(lagging-failover), replica SIGSTOP (pause-replica), whole-store SIGSTOP (pause-store), and latency,
dropped replies and resets through a TCP proxy in front of every store node (net-latency,
net-drop-replies, net-reset); with --partitions, a master isolated from every other store node for
6-10 s, past the failover, then healed (partition-master). Then the checker reads the API
and the store. Exits 0 when it found no anomaly, 1 when it found any (or a process crashed by itself,
or the store stayed unhealthy), 2 on a usage or harness error.`;

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const log = (message: string) =>
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' },
      duration: { type: 'string', default: '60' },
      nodes: { type: 'string', default: '3' },
      quiet: { type: 'string', default: '60' },
      'step-ms': { type: 'string', default: '400' },
      report: { type: 'string' },
      faults: { type: 'string' },
      keep: { type: 'boolean' },
      partitions: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const int = (name: string, value: string, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return n;
  };
  const partitions = values.partitions === true;
  const kinds: readonly string[] = [...PROCESS_FAULTS, ...STORE_FAULTS, ...PARTITION_FAULTS];
  const faults = values.faults?.split(',').map((k) => k.trim());
  const unknown = faults?.filter((k) => !kinds.includes(k));
  if (unknown?.length)
    throw new Error(`--faults: unknown ${unknown.join(', ')} (kinds: ${kinds.join(', ')})`);
  const partitionKinds: readonly string[] = PARTITION_FAULTS;
  if (!partitions && faults?.some((k) => partitionKinds.includes(k)))
    throw new Error('--faults: partition-master needs --partitions');
  return {
    help: values.help === true,
    seed: values.seed ?? randomBytes(3).toString('hex'),
    durationS: int('duration', values.duration!, 10),
    nodes: int('nodes', values.nodes!, 1),
    quietS: int('quiet', values.quiet!, 5),
    stepMs: int('step-ms', values['step-ms']!, 10),
    report: values.report ? path.resolve(values.report) : undefined,
    keep: values.keep === true,
    faults: faults as FaultKind[] | undefined,
    partitions,
  };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  // The first SIGTERM/SIGINT tears the run down cleanly; a repeated one joins it; the third kills
  // every process at once (the exit handler of runChaos) and exits.
  const stop = new AbortController();
  onStopSignals((signal, count) => {
    if (count >= FORCE_EXIT_SIGNALS) process.exit(exitCodeOf(signal));
    if (count === 1) log(`${signal}: stopping every process of the run`);
    stop.abort(new Error(`stopped by ${signal}`));
    process.exitCode = exitCodeOf(signal);
  });

  const runDir = path.join(REPO_ROOT, '.data', `chaos-${process.pid}`);
  mkdirSync(runDir, { recursive: true });
  log(
    `chaos seed ${args.seed}${args.partitions ? ' with partitions' : ''}: ${args.durationS} s of faults, ${args.nodes} worker nodes; logs under ${path.relative(REPO_ROOT, runDir)}/logs`,
  );
  let outcome: Awaited<ReturnType<typeof runChaos>>;
  try {
    outcome = await runChaos({ ...args, runDir, log, signal: stop.signal });
  } catch (error) {
    if (stop.signal.aborted) {
      if (!args.keep) rmSync(runDir, { recursive: true, force: true });
      return Number(process.exitCode);
    }
    log(`chaos run failed: ${(error as Error).stack ?? String(error)}`);
    return 2;
  }
  const { check, history } = outcome;
  const out: string[] = [];
  out.push(...anomalyReport(check.anomalies, history));
  for (const c of outcome.crashes)
    out.push(
      `crash: ${c.name} exited by itself at t+${(c.at / 1000).toFixed(1)}s (code ${c.code}, signal ${c.signal})`,
    );
  if (outcome.storeProblems.length)
    out.push(`store not healthy after the faults: ${outcome.storeProblems.join('; ')}`);
  out.push(...summaryLines(check, history));
  process.stdout.write(`${out.join('\n')}\n`);

  const summary = summarize(outcome);
  if (args.report) writeFileSync(args.report, `${JSON.stringify(summary, null, 2)}\n`);
  if (summary.clean && !args.keep) rmSync(runDir, { recursive: true, force: true });
  else {
    writeFileSync(
      path.join(runDir, 'history.json'),
      JSON.stringify({ summary, ...history, anomalies: check.anomalies, notes: check.notes }),
    );
    log(`history and logs kept in ${path.relative(REPO_ROOT, runDir)}/`);
  }
  return summary.clean ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`chaos: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(2);
  },
);
