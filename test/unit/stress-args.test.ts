// The stress CLI's flags: defaults, every option, and one clear line for each kind of mistake.
import { describe, expect, it } from 'vitest';
import { ArgsError, parseStressArgs } from '../../stress/args.js';
import type { StressOptions } from '../../stress/stress-options.js';

const options = (...argv: string[]): StressOptions => {
  const parsed = parseStressArgs(argv);
  if (parsed.help) throw new Error('expected options, got help');
  return parsed.options;
};

const refusal = (...argv: string[]): string => {
  try {
    parseStressArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(ArgsError);
    return (error as Error).message;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
};

describe('parseStressArgs', () => {
  it('defaults to 1000 orders over 50 connections against the local API, untracked', () => {
    expect(options()).toMatchObject({
      url: 'http://127.0.0.1:3000',
      orders: 1000,
      concurrency: 50,
      users: 100,
      track: false,
      retries: 5,
      pollConcurrency: 8,
      progress: true,
    });
  });

  it('reads every flag', () => {
    const parsed = options(
      '--orders=500',
      '--concurrency',
      '20',
      '--url',
      'http://localhost:3401/',
      '--users',
      '7',
      '--duration',
      '30',
      '--rate',
      '100',
      '--track',
      '--poll-concurrency',
      '4',
      '--track-timeout',
      '90',
      '--step-ms',
      '200',
      '--failure-rate',
      '0.1',
      '--nodes',
      '3',
      '--worker-concurrency',
      '25',
      '--retries',
      '2',
      '--json',
      'out.json',
      '--no-progress',
      '--track-via',
      'sse',
      '--cancel-rate',
      '0.2',
      '--store',
      '127.0.0.1:7000',
    );
    expect(parsed).toEqual({
      trackVia: 'sse',
      cancelRate: 0.2,
      storeSeeds: '127.0.0.1:7000',
      url: 'http://localhost:3401',
      orders: 500,
      durationS: 30,
      concurrency: 20,
      users: 7,
      rate: 100,
      track: true,
      pollConcurrency: 4,
      trackTimeoutS: 90,
      stepMs: 200,
      failureRate: 0.1,
      nodes: 3,
      workerConcurrency: 25,
      retries: 2,
      jsonFile: 'out.json',
      progress: false,
    });
  });

  it('runs by time alone when only --duration is given', () => {
    expect(options('--duration', '5')).toMatchObject({ orders: undefined, durationS: 5 });
  });

  it('answers --help with the usage instead of options', () => {
    expect(parseStressArgs(['-h'])).toEqual({ help: true });
  });

  describe('when an argument is wrong', () => {
    it('names an unknown flag', () => {
      expect(refusal('--order', '5')).toMatch(/--order/);
    });

    it('names the flag and what it allows for a bad number', () => {
      expect(refusal('--orders', 'many')).toMatch(/--orders must be an integer from 1/);
      expect(refusal('--concurrency', '0')).toMatch(/--concurrency must be an integer/);
      expect(refusal('--failure-rate', '1.5')).toMatch(/--failure-rate must be a number from 0 to 1/);
      expect(refusal('--duration', '-3')).toMatch(/--duration/);
    });

    it('refuses more connections than orders', () => {
      expect(refusal('--orders', '10', '--concurrency', '50')).toMatch(/at least --concurrency/);
    });

    it('refuses a URL that is not http(s)', () => {
      expect(refusal('--url', 'localhost:3000')).toMatch(/--url must be http or https|--url must be an http/);
      expect(refusal('--url', 'not a url')).toMatch(/--url must be an http/);
    });

    it('refuses a positional argument', () => {
      expect(refusal('500')).toMatch(/500|positional/i);
    });
  });

  it('refuses a --track-via other than sse or poll, and --cancel-rate without --track', () => {
    expect(() => parseStressArgs(['--track', '--track-via', 'ws'])).toThrow(
      /--track-via must be sse or poll/,
    );
    expect(() => parseStressArgs(['--cancel-rate', '0.2'])).toThrow(/--cancel-rate needs --track/);
    expect(() => parseStressArgs(['--track', '--cancel-rate', '2'])).toThrow(
      /--cancel-rate must be a number from 0 to 1/,
    );
  });
});
