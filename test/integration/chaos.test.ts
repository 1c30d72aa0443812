// The seeded chaos run (npm run chaos), short: every fault kind against the real system, and the
// independent checker must find no anomaly. It starts its own cluster, API and worker nodes.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChaosSummary } from '../../stress/chaos/summary.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(path.join(tmpdir(), 'chaos-test-'));
let child: ChildProcess | undefined;

afterAll(async () => {
  // A test that timed out leaves the run going: SIGTERM makes it stop everything it started.
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child!.once('exit', resolve));
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs the chaos CLI; resolves with its exit code and what it printed. */
function runChaos(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Only what node and tsx need: nothing of this process's orderflow settings reaches the run.
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR'] as const)
    if (process.env[name]) env[name] = process.env[name]!;
  child = spawn(process.execPath, ['--import', 'tsx', 'stress/chaos/cli.ts', ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child!.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('when the system runs under a minute of seeded faults', () => {
  it('loses, strands, overlaps and duplicates no order, as the independent checker sees it', async () => {
    const report = path.join(scratch, 'summary.json');
    const { code, stdout, stderr } = await runChaos([
      ...['--seed', 'ci-7', '--duration', '60', '--quiet', '40', '--report', report],
    ]);
    // The printout holds the history of every anomaly: it is the message when this fails.
    expect(code, `${stdout}\n${stderr.slice(-3000)}`).toBe(0);
    const summary = JSON.parse(readFileSync(report, 'utf8')) as ChaosSummary;
    expect(
      Object.keys(summary.faults_by_kind).length,
      JSON.stringify(summary.faults_by_kind),
    ).toBeGreaterThanOrEqual(5);
    expect(summary.faults_by_kind['kill-master'] ?? 0).toBeGreaterThan(0);
    expect(summary.acked).toBeGreaterThan(50);
    expect(summary.clean).toBe(true);
  }, 180_000);
});
