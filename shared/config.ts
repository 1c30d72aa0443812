// The one typed configuration of every orderflow process, parsed once from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';

const DEFAULT_SEEDS = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';

// Strict number syntax: Number(' ') is 0 and Number('0x10') is 16, neither of which anyone meant.
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(
      z.number().min(min, `an integer from ${min} to ${max}`).max(max, `an integer from ${min} to ${max}`),
    );
const fraction = z
  .string()
  .regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'a number from 0 to 1')
  .transform(Number);
const flag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const seeds = z
  .string()
  .trim()
  .min(1)
  .transform((s) => s.split(',').map((x) => x.trim()))
  .pipe(
    z
      .array(
        z
          .string()
          .regex(/^[\w.-]+:\d{1,5}$/, 'each seed is host:port')
          .refine(
            (hp) => Number(hp.split(':')[1]) >= 1 && Number(hp.split(':')[1]) <= 65535,
            'ports are 1 to 65535',
          ),
      )
      .min(1)
      .transform((list) =>
        list.map((hp) => {
          const i = hp.lastIndexOf(':');
          return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
        }),
      ),
  );

/** Every variable the README lists under Configuration, with its default: one schema, parsed once per process. */
export const configSchema = z.object({
  REDIS_NODES: seeds.prefault(DEFAULT_SEEDS),
  REDIS_MODE: z.enum(['cluster', 'dragonfly-emulated']).default('cluster'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  SHARDS: int(1, 256).default(12),
  /** Prefix of every key, so several deployments (or test runs) can share one store. */
  KEY_NAMESPACE: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,23}$/, 'lowercase letters, digits, _ or -; at most 24')
    .default('of'),
  STEP_MS: int(0, 3_600_000).default(5000),
  STEP_FAILURE_RATE: fraction.default(0.05),
  /** Seeds the failure draw: with a seed, whether a step fails is a pure function of (seed, order, step). */
  FAILURE_SEED: z.string().min(1).optional(),
  COMPENSATION_MS: int(0, 3_600_000).default(500),
  WORKER_CONCURRENCY: int(1, 10_000).default(50),
  WORKERS: int(0, 64).default(2),
  // A SIGKILLed node's steps resume after LOCK_MS/2..LOCK_MS (lock expiry) plus up to one stalled
  // interval: measured 6.0-8.0 s over 5 kills with 6 s / 3 s (10 s / 5 s: up to 10.8 s). Renewal
  // every LOCK_MS/2 leaves 3 s of slack against false stalls on a loaded machine.
  LOCK_MS: int(1000, 600_000).default(6000),
  STALLED_INTERVAL_MS: int(500, 600_000).default(3000),
  /** How often a worker node publishes its stats; its registry entry expires after 5 heartbeats. */
  HEARTBEAT_MS: int(100, 60_000).default(1000),
  /**
   * How a dead node's steps come back: `registry` as soon as the node is known dead (liveness beats
   * below; its locks released by one survivor), `lock` only when its locks expire (LOCK_MS plus a
   * stalled check). The lock path stays the backstop in `registry` mode (docs/adr/0015).
   */
  TAKEOVER: z.enum(['registry', 'lock']).default('registry'),
  /** How often a worker node tells the registry it is alive (one small script on the store). */
  LIVENESS_MS: int(100, 10_000).default(500),
  // A node silent this long is dead. 2000 with 500 ms beats: a 1 s event-loop stall leaves a gap of
  // at most 1.5 s between beats, so 0.5 s of slack; a SIGKILLed node is seen sooner, its connections
  // gone (workers/takeover.ts). At least 3 × LIVENESS_MS.
  DEATH_TIMEOUT_MS: int(300, 60_000).default(2000),
  /** A worker node that cannot reach the store this long stops taking steps until it can again. */
  STORE_WATCHDOG_MS: int(500, 600_000).default(10_000),
  /** Port of a worker node's own /health, /ready and /metrics; 0 turns it off. */
  NODE_PORT: int(0, 65535).default(0),
  /** Runs of one step lost to dead or stalled nodes before the step is failed and the order rolled back. */
  MAX_STEP_CRASHES: int(1, 100).default(2),
  /**
   * How often each worker node looks for orders whose chain ended without ending the record (a step
   * BullMQ gave up on after its attempts, a lost chain) and finishes them failed, rolled back.
   */
  RECONCILE_INTERVAL_MS: int(500, 600_000).default(10_000),
  NODE_ID: z
    .string()
    .regex(/^[\w.-]{1,64}$/, 'letters, digits, dot, dash, underscore; at most 64')
    .optional(),
  ADMIN_TOKEN: z.string().min(8, 'at least 8 characters').optional(),
  /** Lets Bull Board retry/remove/promote jobs; off because acting on one step can break an order. */
  BOARD_ACTIONS: flag.default(false),
  ORDER_TTL_S: int(60, 365 * 86_400).default(7 * 86_400),
  IDEMPOTENCY_TTL_S: int(60, 30 * 86_400).default(86_400),
  /** Replicas that must confirm a placement (WAIT) before it is acknowledged; 0 turns WAIT off. */
  WAIT_REPLICAS: int(0, 5).default(1),
  WAIT_TIMEOUT_MS: int(1, 10_000).default(200),
  MAX_BODY_BYTES: int(256, 10_000_000).default(16_384),
  /** Open `GET /orders/:id/events` streams per API process past which it answers 503 with Retry-After. */
  SSE_MAX_STREAMS: int(1, 1_000_000).default(1000),
  /** How often an API process reads the event streams its SSE clients follow (one XREAD per shard). */
  SSE_POLL_MS: int(50, 10_000).default(250),
  /** Waiting steps across all shards past which placement answers 429. */
  BACKLOG_LIMIT: int(1, 100_000_000).default(200_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: flag.default(false),
  /** A diagnostic of worker nodes: each hand-over to an order's next step logged phase by phase (workers/dispatch-trace.ts). */
  DISPATCH_TRACE: flag.default(false),
  // OpenTelemetry's standard variables (shared/tracing.ts). Without an endpoint tracing is off and the
  // SDK is never loaded. Only the OTLP/HTTP protocols: every collector takes them, and gRPC would add
  // @grpc/grpc-js, a large client, for no span that HTTP cannot carry.
  /** OTLP/HTTP base URL of a collector; `/v1/traces` is appended, as the specification says. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'an http:// or https:// URL without query')
    .refine((url) => URL.canParse(url), 'an http:// or https:// URL without query')
    .optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
  /** Default per process: `orderflow-api`, `orderflow-worker`. */
  OTEL_SERVICE_NAME: z.string().min(1).max(256).optional(),
  OTEL_TRACES_SAMPLER: z
    .enum([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ])
    .default('parentbased_always_on'),
  /** The ratio of the `traceidratio` samplers (the specification's default: 1). */
  OTEL_TRACES_SAMPLER_ARG: fraction.default(1),
  /** `true` turns tracing off even with an endpoint set. */
  OTEL_SDK_DISABLED: flag.default(false),
});

export type Config = z.infer<typeof configSchema> & { NODE_ID: string };
export type Env = Record<string, string | undefined>;

/** A bad configuration value; the message names the variable and what it allows. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** Parses the environment into a Config, or throws a ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  // An empty or blank variable means "unset", so `FOO= npm start` falls back to the default.
  const present = Object.fromEntries(
    Object.keys(configSchema.shape)
      .filter((k) => env[k] !== undefined && env[k]?.trim() !== '')
      .map((k) => [k, env[k]?.trim()]),
  );
  const parsed = configSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      return `${name}=${JSON.stringify(env[name] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  return { ...parsed.data, NODE_ID: parsed.data.NODE_ID ?? `${hostname()}-${process.pid}` };
}
