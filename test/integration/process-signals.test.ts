// Repeated SIGTERM/SIGINT join the shutdown under way; the third forces an exit; a closed IPC channel shuts down.
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readLines } from '../../scripts/kit/lines.js';
import { baseEnv, type ChildExit, spawnTsx } from '../../scripts/kit/spawn.js';

interface Run {
  child: ChildProcess;
  events: string[];
  exited: Promise<ChildExit>;
  waitFor(event: string): Promise<void>;
}

function startSlowShutdown(shutdownMs: number, ipc = false): Run {
  const { child, exited } = spawnTsx('test/fixtures/slow-shutdown.ts', {
    env: { ...baseEnv(), SHUTDOWN_MS: String(shutdownMs) },
    ipc,
  });
  child.stderr!.pipe(process.stderr);
  const events: string[] = [];
  const waiters: Array<() => void> = [];
  readLines(child.stdout!, (line) => {
    const event = (JSON.parse(line) as { event?: string }).event;
    if (event) events.push(event);
    for (const wake of waiters.splice(0)) wake();
  });
  const waitFor = async (event: string) => {
    while (!events.includes(event)) {
      const more = new Promise<void>((resolve) => waiters.push(resolve));
      const ended = exited.then(() => {
        throw new Error(`exited before logging ${event}; logged ${events.join(', ')}`);
      });
      await Promise.race([more, ended]);
    }
  };
  return { child, events, exited, waitFor };
}

describe('when a second stop signal arrives during the shutdown', () => {
  it('joins the shutdown under way: every step finishes and the exit is clean', async () => {
    const run = startSlowShutdown(1_500);
    await run.waitFor('ready');
    run.child.kill('SIGTERM');
    await run.waitFor('slow-step-started');
    run.child.kill('SIGTERM'); // as a process group's signal and a forwarded one arrive together
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.events).toContain('shutdown-already-running');
    expect(run.events).toContain('slow-step-finished');
    expect(run.events.at(-1)).toBe('stopped');
  }, 30_000);
});

describe('when a third stop signal arrives', () => {
  it('exits at once with 128 + the signal number, without finishing the shutdown', async () => {
    const run = startSlowShutdown(20_000);
    await run.waitFor('ready');
    run.child.kill('SIGTERM');
    await run.waitFor('slow-step-started');
    run.child.kill('SIGTERM');
    await run.waitFor('shutdown-already-running');
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 143, signal: null });
    expect(run.events).toContain('forced-exit');
    expect(run.events).not.toContain('slow-step-finished');
  }, 30_000);
});

describe('when the supervisor that holds the IPC channel goes away', () => {
  it('shuts down by itself, cleanly', async () => {
    const run = startSlowShutdown(100, true);
    await run.waitFor('ready');
    run.child.disconnect();
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.events).toContain('slow-step-finished');
  }, 30_000);
});
