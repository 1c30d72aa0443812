// The stress CLI's arguments: parsed and checked into StressOptions, or one line saying what is wrong.
import { parseArgs } from 'node:util';
import type { StressOptions } from './stress-options.js';

/** A bad command line; the message is the one line the CLI prints before the usage hint. */
export class ArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** The text of `--help`, and the hint after a bad argument. */
export const USAGE = `usage: npm run stress -- [--orders N] [--concurrency C] [--url U] [--users K] [--duration S]
                         [--rate R] [--track] [--track-via sse|poll] [--cancel-rate P] [--json FILE]

  --orders N              orders to place (default 1000; with --duration, whichever ends first)
  --duration S            place for S seconds
  --concurrency C         HTTP connections placing orders (default 50)
  --url U                 API base URL (default http://127.0.0.1:3000)
  --users K               distinct user ids, spread over the shards (default 100)
  --rate R                at most R placements per second in total (default: as fast as possible)
  --track                 follow every placed order to completed/failed and report end-to-end figures
  --track-via sse|poll    follow orders by GET /orders/:id polls (default) or their event streams
  --poll-concurrency P    GET /orders/:id in flight at once while tracking (default 8); with sse,
                          the streams open at once (default 200)
  --cancel-rate P         cancel this share of the orders at random moments of their run, and check
                          each cancelled record (needs --track)
  --store SEEDS           the store's host:port,... : report its commands/s while tracking
  --track-timeout S       stop tracking after S seconds; unfinished orders count as stuck (default: auto)
  --step-ms MS            STEP_MS of the system (default: the live nodes' (GET /nodes), else 5000)
  --failure-rate P        STEP_FAILURE_RATE of the system (default: the live nodes', else 0.05)
  --nodes N               live worker nodes, when GET /nodes is not available
  --worker-concurrency C  steps per node, when GET /nodes is not available (default 50)
  --retries N             retries of a 503/429 with the same Idempotency-Key (default 5)
  --json FILE             also write the report as JSON (- for stdout)
  --no-progress           no progress bar on stderr
  -h, --help              this text

exit codes: 0 all placed (and, with --track, finished); 1 the run saw errors, refusals, lost or stuck
orders; 2 bad arguments; 3 the API is unreachable; 130 interrupted`;

const spec = {
  orders: { type: 'string' },
  duration: { type: 'string' },
  concurrency: { type: 'string', short: 'c' },
  url: { type: 'string' },
  users: { type: 'string' },
  rate: { type: 'string' },
  track: { type: 'boolean' },
  'poll-concurrency': { type: 'string' },
  'track-via': { type: 'string' },
  'cancel-rate': { type: 'string' },
  store: { type: 'string' },
  'track-timeout': { type: 'string' },
  'step-ms': { type: 'string' },
  'failure-rate': { type: 'string' },
  nodes: { type: 'string' },
  'worker-concurrency': { type: 'string' },
  retries: { type: 'string' },
  json: { type: 'string' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What the command line asks for: options to run, or the usage text. */
export type ParsedArgs = { help: true } | { help: false; options: StressOptions };

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ArgsError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function decimal(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value < min || value > max) {
    throw new ArgsError(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function baseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ArgsError(
      `--url must be an http(s) URL such as http://127.0.0.1:3000, got ${JSON.stringify(text)}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArgsError(`--url must be http or https, got ${url.protocol.replace(':', '')}`);
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** Parses `argv` (without node and the script); throws ArgsError on anything it cannot run. */
export function parseStressArgs(argv: readonly string[]): ParsedArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: false }));
  } catch (error) {
    // node's messages name the flag ("Unknown option '--foo'"); keep them, drop its advice lines.
    throw new ArgsError(String((error as Error).message).split('\n')[0]!);
  }
  if (values.help) return { help: true };
  const str = (name: keyof typeof spec) => values[name] as string | undefined;
  const duration = decimal('duration', str('duration'), 0.1, 86_400);
  const orders =
    integer('orders', str('orders'), 1, 10_000_000) ?? (duration === undefined ? 1000 : undefined);
  const concurrency = integer('concurrency', str('concurrency'), 1, 10_000) ?? 50;
  if (orders !== undefined && orders < concurrency) {
    throw new ArgsError(`--orders (${orders}) must be at least --concurrency (${concurrency})`);
  }
  const trackVia = str('track-via') ?? 'poll';
  if (trackVia !== 'poll' && trackVia !== 'sse') {
    throw new ArgsError(`--track-via must be sse or poll, got ${JSON.stringify(trackVia)}`);
  }
  const cancelRate = decimal('cancel-rate', str('cancel-rate'), 0, 1) ?? 0;
  if (cancelRate > 0 && values.track !== true) throw new ArgsError('--cancel-rate needs --track');
  return {
    help: false,
    options: {
      url: baseUrl(str('url') ?? 'http://127.0.0.1:3000'),
      orders,
      durationS: duration,
      concurrency,
      users: integer('users', str('users'), 1, 10_000_000) ?? 100,
      rate: integer('rate', str('rate'), 1, 1_000_000),
      track: values.track === true,
      pollConcurrency:
        integer('poll-concurrency', str('poll-concurrency'), 1, 1000) ?? (trackVia === 'sse' ? 200 : 8),
      trackVia,
      cancelRate,
      storeSeeds: str('store'),
      trackTimeoutS: decimal('track-timeout', str('track-timeout'), 1, 86_400),
      stepMs: integer('step-ms', str('step-ms'), 0, 3_600_000),
      failureRate: decimal('failure-rate', str('failure-rate'), 0, 1),
      nodes: integer('nodes', str('nodes'), 1, 10_000),
      workerConcurrency: integer('worker-concurrency', str('worker-concurrency'), 1, 10_000),
      retries: integer('retries', str('retries'), 0, 100) ?? 5,
      jsonFile: str('json'),
      progress: values['no-progress'] !== true,
    },
  };
}
