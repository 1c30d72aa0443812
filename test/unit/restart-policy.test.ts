// npm start's restart policy, without processes: which exits restart, after what backoff, and when it gives up.
import { describe, expect, it } from 'vitest';
import { createRestartPolicy, type ProcessExit } from '../../scripts/restart-policy.js';

const crash = (startedAt: number, exitedAt: number): ProcessExit => ({
  code: null,
  signal: 'SIGKILL',
  startedAt,
  exitedAt,
});

describe('when a process exits 0', () => {
  it('leaves it down: a drained node stopped on purpose', () => {
    const policy = createRestartPolicy();
    expect(policy.decide({ code: 0, signal: null, startedAt: 0, exitedAt: 100 })).toEqual({
      action: 'stay-down',
      reason: 'exited-cleanly',
    });
  });
});

describe('when a process crashes', () => {
  it('restarts it for a non-zero code as for a signal', () => {
    const policy = createRestartPolicy({ backoffMs: 500 });
    expect(policy.decide({ code: 1, signal: null, startedAt: 0, exitedAt: 40_000 })).toMatchObject({
      action: 'restart',
      delayMs: 500,
    });
    expect(policy.decide(crash(41_000, 90_000))).toMatchObject({ action: 'restart', delayMs: 500 });
  });

  it('doubles the backoff for crashes in a row, up to the maximum', () => {
    const policy = createRestartPolicy({ backoffMs: 500, maxBackoffMs: 3_000, crashLimit: 100 });
    const delays = [0, 1, 2, 3, 4].map((i) => {
      const decision = policy.decide(crash(i * 1_000, i * 1_000 + 100));
      return decision.action === 'restart' ? decision.delayMs : -1;
    });
    expect(delays).toEqual([500, 1_000, 2_000, 3_000, 3_000]);
  });

  it('resets the backoff after a run long enough to count as healthy', () => {
    const policy = createRestartPolicy({ backoffMs: 500, healthyRunMs: 30_000, crashLimit: 100 });
    policy.decide(crash(0, 100));
    policy.decide(crash(700, 800));
    expect(policy.decide(crash(2_000, 2_100))).toMatchObject({ delayMs: 2_000 });
    expect(policy.decide(crash(5_000, 40_000))).toMatchObject({ delayMs: 500 });
  });
});

describe('when a process keeps crashing', () => {
  it('gives up at the crash limit within the window, and says so', () => {
    const policy = createRestartPolicy({ crashLimit: 3, windowMs: 10_000 });
    expect(policy.decide(crash(0, 1_000)).action).toBe('restart');
    expect(policy.decide(crash(2_000, 3_000)).action).toBe('restart');
    expect(policy.decide(crash(4_000, 5_000))).toEqual({
      action: 'give-up',
      reason: 'crash-loop',
      crashes: 3,
      windowMs: 10_000,
    });
  });

  it('forgets crashes older than the window', () => {
    const policy = createRestartPolicy({ crashLimit: 3, windowMs: 10_000 });
    policy.decide(crash(0, 1_000));
    policy.decide(crash(2_000, 3_000));
    expect(policy.decide(crash(13_000, 14_000))).toMatchObject({ action: 'restart', crashes: 1 });
  });
});
