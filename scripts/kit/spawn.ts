// Orderflow's TypeScript entries as child processes (`node --import tsx <entry>`), signalled by pid
// only: the one spawner of the launcher's supervisor, the bench and the tests.
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

/** The repository root, where every entry path is resolved and every child runs by default. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The only variables a child takes from this process: what node and tsx need to run. PATH for
 * anything they look up, HOME, and TMPDIR because tsx keeps its compile cache under the temp dir
 * (a child that looked elsewhere would compile everything cold). Nothing that configures orderflow
 * (a developer's STEP_FAILURE_RATE, LOCK_MS or WAIT_REPLICAS, the REDIS_NODES a test setup
 * exports) and no NODE_OPTIONS (vitest's, a debugger's) reaches a child unasked.
 */
const INHERITED = ['PATH', 'HOME', 'TMPDIR'] as const;

/** The inherited basics of every child's environment, without anything that configures orderflow. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return env;
}

export type ChildExit = { code: number | null; signal: NodeJS.Signals | null };

export interface TsxOptions {
  /** The child's whole environment: nothing else is inherited. */
  env: Record<string, string | undefined>;
  cwd?: string;
  /**
   * `pipe` (default): the caller must read `child.stdout` and `child.stderr` to their end; `inherit`:
   * they are this process's; a file descriptor: both go straight to that file.
   */
  output?: 'pipe' | 'inherit' | number;
  /** An IPC channel, for `tellSupervisor` and for the child to notice this process died. */
  ipc?: boolean;
  /** A process group of its own, so a signal to this process's group does not reach it. */
  detached?: boolean;
  /** Node options before `--import tsx` (a CPU profile). */
  nodeArgs?: string[];
}

/** One running child: its pid, its exit, and how to stop it. */
export interface TsxChild {
  child: ChildProcess;
  pid: number;
  /** Resolves once it exited and its piped output was read to the end. */
  exited: Promise<ChildExit>;
  readonly running: boolean;
  /** Sends `signal` if the process still runs. */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `entry` (a path from the repository root) under tsx; throws if no process could start. */
export function spawnTsx(entry: string, options: TsxOptions): TsxChild {
  const { output = 'pipe' } = options;
  const stdio: StdioOptions = ['ignore', output, output, ...(options.ipc ? (['ipc'] as const) : [])];
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', entry],
    {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env,
      stdio,
      detached: options.detached ?? false,
    },
  );
  if (child.pid === undefined) throw new Error(`could not start ${entry}`);
  const pid = child.pid;
  // After 'exit', once its piped output ended too: only then has every line the process wrote been
  // read, so a caller that looks at its output after `exited` (an EADDRINUSE, a last log line) sees
  // all of it. Not 'close', which never comes once this side disconnected an IPC channel.
  const exited = new Promise<ChildExit>((resolve) =>
    child.once('exit', (code, signal) => {
      const outputs = [child.stdout, child.stderr].filter((stream) => stream !== null);
      void Promise.all(outputs.map((stream) => finished(stream).catch(() => undefined))).then(() =>
        resolve({ code, signal }),
      );
    }),
  );
  const handle: TsxChild = {
    child,
    pid,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    signal(signal) {
      if (handle.running) process.kill(pid, signal);
    },
    async stop(graceMs = 15_000) {
      if (!handle.running) return void (await exited);
      handle.signal('SIGTERM');
      const timer = setTimeout(() => handle.signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return handle;
}
