// The processes a benchmark starts: spawned as `node --import tsx <entry>`, logged to files, stopped by pid.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, where every entry path is resolved and every child runs. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One running child: its pid, its exit, and how to stop it. */
export interface BenchProcess {
  name: string;
  pid: number;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** Sends `signal` if the process still runs. */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * A group of children logging under `logDir`. Every child is stopped by `stopAll()`, and killed by an
 * exit handler if the bench dies first, so a benchmark never leaves a process behind. Only the pids
 * this group spawned are ever signalled.
 */
export function createProcessGroup(logDir: string, { cpuProfDir }: { cpuProfDir?: string } = {}) {
  mkdirSync(logDir, { recursive: true });
  const children = new Set<BenchProcess>();
  const killLeftovers = () => {
    for (const child of children) if (child.running) child.signal('SIGKILL');
  };
  process.on('exit', killLeftovers);

  function spawnTsx(name: string, entry: string, env: Record<string, string>): BenchProcess {
    const logFile = path.join(logDir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const profile = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(cpuProfDir, name)}`] : [];
    const child: ChildProcess = spawn(process.execPath, [...profile, '--import', 'tsx', entry], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_PRETTY: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${entry})`);
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        log.end();
        resolve({ code, signal });
      }),
    );
    const handle: BenchProcess = {
      name,
      pid: child.pid,
      logFile,
      exited,
      get running() {
        return child.exitCode === null && child.signalCode === null;
      },
      signal(signal) {
        if (handle.running) process.kill(child.pid!, signal);
      },
      async stop(graceMs = 15_000) {
        if (!handle.running) return void (await exited);
        handle.signal('SIGTERM');
        const timer = setTimeout(() => handle.signal('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      },
    };
    children.add(handle);
    void exited.then(() => children.delete(handle));
    return handle;
  }

  return {
    spawnTsx,
    /** Children still running. */
    get running(): BenchProcess[] {
      return [...children].filter((c) => c.running);
    },
    /** Stops every child at once (SIGTERM, SIGKILL after `graceMs`). */
    async stopAll(graceMs = 15_000): Promise<void> {
      await Promise.allSettled([...children].map((child) => child.stop(graceMs)));
      process.off('exit', killLeftovers);
    },
  };
}

export type ProcessGroup = ReturnType<typeof createProcessGroup>;
