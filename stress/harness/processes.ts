// The processes a benchmark starts (scripts/kit/spawn.ts), logged to files, stopped by pid.
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { spawnTsx, type TsxChild } from '../../scripts/kit/spawn.js';

/** One running child of a benchmark: its pid, its exit, how to stop it, and where it logs. */
export interface BenchProcess extends TsxChild {
  name: string;
  logFile: string;
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

  function spawnTsxLogged(name: string, entry: string, env: Record<string, string>): BenchProcess {
    const logFile = path.join(logDir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const nodeArgs = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(cpuProfDir, name)}`] : [];
    const spawned = spawnTsx(entry, { env: { ...process.env, LOG_PRETTY: '', ...env }, nodeArgs });
    spawned.child.stdout!.pipe(log, { end: false });
    spawned.child.stderr!.pipe(log, { end: false });
    void spawned.exited.then(() => log.end());
    const handle: BenchProcess = Object.assign(spawned, { name, logFile });
    children.add(handle);
    void handle.exited.then(() => children.delete(handle));
    return handle;
  }

  return {
    spawnTsx: spawnTsxLogged,
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
