// `npm run stress -- ...`: parses flags, runs runStress, prints the report, exits with what happened.
import { writeFile } from 'node:fs/promises';
import { ApiUnreachableError } from './api-client.js';
import { ArgsError, parseStressArgs, USAGE } from './args.js';
import { formatReport } from './report-format.js';
import { runStress } from './run-stress.js';

const EXIT = { ok: 0, problems: 1, usage: 2, unreachable: 3, interrupted: 130 } as const;

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseStressArgs>;
  try {
    parsed = parseStressArgs(argv);
  } catch (error) {
    if (!(error instanceof ArgsError)) throw error;
    process.stderr.write(`stress: ${error.message}\n(npm run stress -- --help for usage)\n`);
    return EXIT.usage;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { options } = parsed;

  // The first Ctrl-C ends the run early and still reports; a second one leaves at once.
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\nstress: interrupted, reporting what ran so far (Ctrl-C again to quit)\n');
    interrupt.abort();
    process.once('SIGINT', () => process.exit(EXIT.interrupted));
  });

  let report: Awaited<ReturnType<typeof runStress>>;
  try {
    report = await runStress(options, { signal: interrupt.signal });
  } catch (error) {
    if (error instanceof ApiUnreachableError) {
      process.stderr.write(`stress: ${error.message}\n`);
      return EXIT.unreachable;
    }
    throw error;
  }

  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (options.jsonFile === '-') {
    // stdout carries the JSON for a pipe; the table still reaches the person watching.
    process.stdout.write(json);
    process.stderr.write(`${formatReport(report)}\n`);
  } else {
    process.stdout.write(`${formatReport(report)}\n`);
    if (options.jsonFile) {
      await writeFile(options.jsonFile, json);
      process.stdout.write(`report written to ${options.jsonFile}\n`);
    }
  }
  if (interrupt.signal.aborted) return EXIT.interrupted;
  return report.problems.length ? EXIT.problems : EXIT.ok;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`stress: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
