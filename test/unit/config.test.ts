// loadConfig: defaults, overrides, empty-as-unset, flags, and errors that name every bad variable.
import { describe, expect, it } from 'vitest';
import { ConfigError, configSchema, type Env, loadConfig } from '../../shared/config.js';
import { tracingEnabled } from '../../shared/tracing.js';

/** The ConfigError that loadConfig throws for `env`; fails the test when it does not throw one. */
function configErrorOf(env: Env): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('when the environment sets nothing', () => {
  const config = loadConfig({});

  it('seeds from the three local cluster nodes, parsed into host and port', () => {
    expect(config.REDIS_NODES).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
      { host: '127.0.0.1', port: 7002 },
    ]);
  });

  it('uses the documented defaults of the pipeline', () => {
    expect(config).toMatchObject({
      REDIS_MODE: 'cluster',
      SHARDS: 12,
      STEP_MS: 5000,
      STEP_FAILURE_RATE: 0.05,
      WORKER_CONCURRENCY: 50,
      WORKERS: 2,
      LOG_LEVEL: 'info',
      BOARD_ACTIONS: false,
      LOG_PRETTY: false,
    });
    expect(config.FAILURE_SEED).toBeUndefined();
    expect(config.ADMIN_TOKEN).toBeUndefined();
  });

  it('names the node after the host and the process', () => {
    expect(config.NODE_ID.length).toBeGreaterThan(0);
    expect(config.NODE_ID).toContain(String(process.pid));
  });

  it('has no test switch: the failures of tests are their own step handlers', () => {
    expect(Object.keys(configSchema.shape)).not.toContain('FAILURE_DIRECTIVES');
    expect(loadConfig({ FAILURE_DIRECTIVES: '1' })).not.toHaveProperty('FAILURE_DIRECTIVES');
  });
});

describe('when variables are set', () => {
  it('uses the given values instead of the defaults', () => {
    const config = loadConfig({
      REDIS_NODES: 'redis-a:6379, redis-b.internal:6380',
      REDIS_MODE: 'dragonfly-emulated',
      SHARDS: '16',
      STEP_MS: '20',
      STEP_FAILURE_RATE: '0',
      WORKER_CONCURRENCY: '8',
      WORKERS: '0',
      NODE_ID: 'node_7.a-b',
      FAILURE_SEED: 'seed-1',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      REDIS_NODES: [
        { host: 'redis-a', port: 6379 },
        { host: 'redis-b.internal', port: 6380 },
      ],
      REDIS_MODE: 'dragonfly-emulated',
      SHARDS: 16,
      STEP_MS: 20,
      STEP_FAILURE_RATE: 0,
      WORKER_CONCURRENCY: 8,
      WORKERS: 0,
      NODE_ID: 'node_7.a-b',
      FAILURE_SEED: 'seed-1',
      LOG_LEVEL: 'debug',
    });
  });

  it('accepts both ends of the failure rate', () => {
    expect(loadConfig({ STEP_FAILURE_RATE: '1' }).STEP_FAILURE_RATE).toBe(1);
    expect(loadConfig({ STEP_FAILURE_RATE: '0.5' }).STEP_FAILURE_RATE).toBe(0.5);
  });

  it('ignores variables it does not know and leaves the environment untouched', () => {
    const env: Env = { SHARDS: '4', UNRELATED: 'x' };
    const config = loadConfig(env);
    expect(config.SHARDS).toBe(4);
    expect(config).not.toHaveProperty('UNRELATED');
    expect(env).toEqual({ SHARDS: '4', UNRELATED: 'x' });
  });
});

describe('when a variable is set to the empty string', () => {
  it('treats it as unset and falls back to the default', () => {
    const config = loadConfig({
      REDIS_NODES: '',
      SHARDS: '',
      STEP_FAILURE_RATE: '',
      NODE_ID: '',
      FAILURE_SEED: '',
      LOG_LEVEL: '',
    });
    expect(config.REDIS_NODES).toHaveLength(3);
    expect(config.SHARDS).toBe(12);
    expect(config.STEP_FAILURE_RATE).toBe(0.05);
    expect(config.NODE_ID).toContain(String(process.pid));
    expect(config.FAILURE_SEED).toBeUndefined();
    expect(config.LOG_LEVEL).toBe('info');
  });
});

describe('when a boolean flag is set', () => {
  it.each(['1', 'true', 'yes', 'on'])('reads %j as true', (value) => {
    const config = loadConfig({ BOARD_ACTIONS: value, LOG_PRETTY: value });
    expect([config.BOARD_ACTIONS, config.LOG_PRETTY]).toEqual([true, true]);
  });

  it.each(['0', 'false', 'no', 'off'])('reads %j as false', (value) => {
    const config = loadConfig({ BOARD_ACTIONS: value, LOG_PRETTY: value });
    expect([config.BOARD_ACTIONS, config.LOG_PRETTY]).toEqual([false, false]);
  });

  it('refuses a word it does not know, listing the accepted ones', () => {
    const { message } = configErrorOf({ BOARD_ACTIONS: 'maybe' });
    expect(message).toContain('BOARD_ACTIONS');
    expect(message).toContain('"maybe"');
    expect(message).toContain('"true"');
  });
});

describe('when a value is bad', () => {
  it.each([
    { env: { SHARDS: 'zero' }, name: 'SHARDS', allowed: 'an integer from 1 to 256' },
    { env: { SHARDS: '0' }, name: 'SHARDS', allowed: 'an integer from 1 to 256' },
    { env: { SHARDS: '257' }, name: 'SHARDS', allowed: 'an integer from 1 to 256' },
    { env: { SHARDS: '1.5' }, name: 'SHARDS', allowed: 'an integer' },
    { env: { SHARDS: '0x10' }, name: 'SHARDS', allowed: 'an integer' },
    { env: { STEP_FAILURE_RATE: '2' }, name: 'STEP_FAILURE_RATE', allowed: 'a number from 0 to 1' },
    { env: { STEP_FAILURE_RATE: '-0.1' }, name: 'STEP_FAILURE_RATE', allowed: 'a number from 0 to 1' },
    { env: { WORKER_CONCURRENCY: '0' }, name: 'WORKER_CONCURRENCY', allowed: 'an integer from 1 to' },
    { env: { REDIS_NODES: 'redis-a:99999' }, name: 'REDIS_NODES', allowed: 'ports are 1 to 65535' },
    { env: { REDIS_NODES: 'localhost' }, name: 'REDIS_NODES', allowed: 'host:port' },
    { env: { REDIS_NODES: 'a:1,,b:2' }, name: 'REDIS_NODES', allowed: 'host:port' },
    { env: { REDIS_MODE: 'foo' }, name: 'REDIS_MODE', allowed: '"dragonfly-emulated"' },
    { env: { LOG_LEVEL: 'loud' }, name: 'LOG_LEVEL', allowed: '"silent"' },
    { env: { NODE_ID: 'has space' }, name: 'NODE_ID', allowed: 'letters, digits' },
    { env: { ADMIN_TOKEN: 'short' }, name: 'ADMIN_TOKEN', allowed: 'at least 8' },
    {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
      name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
      allowed: 'an http:// or https:// URL',
    },
    {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://[::1' },
      name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
      allowed: 'an http:// or https:// URL',
    },
    {
      env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      name: 'OTEL_EXPORTER_OTLP_PROTOCOL',
      allowed: '"http/json"',
    },
    { env: { OTEL_TRACES_SAMPLER: 'sometimes' }, name: 'OTEL_TRACES_SAMPLER', allowed: '"traceidratio"' },
    {
      env: { OTEL_TRACES_SAMPLER_ARG: '1.5' },
      name: 'OTEL_TRACES_SAMPLER_ARG',
      allowed: 'a number from 0 to 1',
    },
  ])('throws a ConfigError naming $name and what it allows ($allowed)', ({ env, name, allowed }) => {
    const error = configErrorOf(env);
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain(`${name}=`);
    expect(error.message).toContain(allowed);
  });

  it('quotes the offending value', () => {
    expect(configErrorOf({ REDIS_MODE: 'foo' }).message).toContain('REDIS_MODE="foo"');
  });

  it('names every bad variable in one error', () => {
    const { message } = configErrorOf({
      SHARDS: 'zero',
      STEP_FAILURE_RATE: '2',
      REDIS_NODES: 'localhost',
      REDIS_MODE: 'foo',
      LOG_LEVEL: 'loud',
      STEP_MS: '20',
    });
    for (const name of ['SHARDS', 'STEP_FAILURE_RATE', 'REDIS_NODES', 'REDIS_MODE', 'LOG_LEVEL']) {
      expect(message).toContain(`${name}=`);
    }
    expect(message).not.toContain('STEP_MS');
  });
});

describe('when a number is written loosely', () => {
  it('treats a blank value as unset rather than as 0', () => {
    // Number(' ') is 0: read that way, STEP_FAILURE_RATE=' ' would silently turn failures off.
    expect(loadConfig({ STEP_FAILURE_RATE: ' ', STEP_MS: '  ' })).toMatchObject({
      STEP_FAILURE_RATE: 0.05,
      STEP_MS: 5000,
    });
  });

  it('accepts surrounding spaces around a valid value', () => {
    expect(loadConfig({ SHARDS: ' 16 ' }).SHARDS).toBe(16);
  });
});

describe('when tracing is configured', () => {
  it('is off without an endpoint, with the standard defaults for the rest', () => {
    const config = loadConfig({});
    expect(tracingEnabled(config)).toBe(false);
    expect(config).toMatchObject({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_TRACES_SAMPLER_ARG: 1,
    });
  });

  it('is on with an endpoint, unless OTEL_SDK_DISABLED says otherwise', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(tracingEnabled(loadConfig(endpoint))).toBe(true);
    expect(tracingEnabled(loadConfig({ ...endpoint, OTEL_SDK_DISABLED: 'true' }))).toBe(false);
    expect(tracingEnabled(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }))).toBe(false);
  });
});
