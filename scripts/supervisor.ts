// `npm start`'s process supervisor: runs the API and the worker nodes, restarts the ones that crash, stops them all.
import type { ChildProcess } from 'node:child_process';
import { spawnTsx } from './kit/spawn.js';
import { createRestartPolicy, type ProcessExit, type RestartPolicyOptions } from './restart-policy.js';

export interface SupervisedProcess {
  /** A stable name (`api`, `worker-1`); a restart keeps it, and the env (so the same NODE_ID). */
  name: string;
  /** A TypeScript entry run as `node --import tsx <entry>` from `cwd`. */
  entry: string;
  env: Record<string, string>;
}

/** The few pino methods the supervisor logs with, so tests can pass a recorder. */
export interface SupervisorLog {
  info(fields: object): void;
  warn(fields: object): void;
  error(fields: object): void;
}

export interface SupervisorOptions {
  cwd: string;
  log: SupervisorLog;
  policy?: RestartPolicyOptions;
  /** A message a process sent over IPC (`tellSupervisor`), such as the port it bound. */
  onMessage?(name: string, message: unknown): void;
  /** Every process is down for good (exited cleanly or crash-looping); `clean` when all exited 0. */
  onAllDown?(clean: boolean): void;
}

interface Slot {
  spec: SupervisedProcess;
  policy: ReturnType<typeof createRestartPolicy>;
  child?: ChildProcess;
  startedAt: number;
  restarts: number;
  restartTimer?: NodeJS.Timeout;
  /** Down for good: it exited 0 or hit the crash-loop limit. */
  down?: 'exited-cleanly' | 'crash-loop';
}

/**
 * Supervises processes the way compose's `restart: on-failure` does: one that exits with a
 * non-zero code or a signal is restarted after a backoff, under the same name and env; one that
 * exits 0 (a worker node drained by an operator) stays down; one that crashes `crashLimit` times in
 * `windowMs` stays down and is logged as crash-looping. The rest keep running meanwhile.
 *
 * Children run in process groups of their own (`detached`), so a signal sent to the launcher's
 * group (a terminal's Ctrl-C, a CI runner's stop) reaches the launcher alone, and each child gets
 * exactly one SIGTERM, from `stop()`. Each child holds an IPC channel to the launcher: if the
 * launcher is SIGKILLed, the channel closes and the child shuts down by itself (`runMain`).
 */
export function createSupervisor(opts: SupervisorOptions) {
  const slots = new Map<string, Slot>();
  let stopping: Promise<void> | undefined;

  function launch(slot: Slot): void {
    const { spec } = slot;
    let child: ChildProcess;
    try {
      ({ child } = spawnTsx(spec.entry, {
        cwd: opts.cwd,
        env: { ...process.env, ...spec.env },
        output: 'inherit',
        ipc: true,
        detached: true,
      }));
    } catch (error) {
      opts.log.error({ event: 'process-spawn-failed', process: spec.name, err: error });
      return;
    }
    slot.child = child;
    slot.startedAt = performance.now();
    child.on('message', (message) => opts.onMessage?.(spec.name, message));
    child.once('spawn', () =>
      opts.log.info({
        event: 'process-started',
        process: spec.name,
        pid: child.pid,
        restarts: slot.restarts,
      }),
    );
    child.once('error', (error) =>
      opts.log.error({ event: 'process-spawn-failed', process: spec.name, err: error }),
    );
    child.once('exit', (code, signal) => onExit(slot, child, { code, signal }));
  }

  function onExit(slot: Slot, child: ChildProcess, status: Pick<ProcessExit, 'code' | 'signal'>): void {
    if (slot.child === child) slot.child = undefined;
    const exit: ProcessExit = { ...status, startedAt: slot.startedAt, exitedAt: performance.now() };
    const fields = { process: slot.spec.name, pid: child.pid, code: status.code, signal: status.signal };
    if (stopping) {
      opts.log.info({ event: 'process-stopped', ...fields });
      return;
    }
    const ranMs = Math.round(exit.exitedAt - exit.startedAt);
    const decision = slot.policy.decide(exit);
    if (decision.action === 'restart') {
      opts.log.warn({ event: 'process-exited', ...fields, ran_ms: ranMs, restart_in_ms: decision.delayMs });
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        slot.restarts++;
        launch(slot);
      }, decision.delayMs);
      return;
    }
    slot.down = decision.reason;
    if (decision.action === 'give-up') {
      opts.log.error({
        event: 'crash-loop',
        ...fields,
        crashes: decision.crashes,
        window_ms: decision.windowMs,
        action: 'left down; restart npm start once the cause is fixed',
      });
    } else {
      opts.log.info({ event: 'process-exited', ...fields, ran_ms: ranMs, action: 'left down (exited 0)' });
    }
    if ([...slots.values()].every((s) => s.down)) {
      opts.onAllDown?.([...slots.values()].every((s) => s.down === 'exited-cleanly'));
    }
  }

  return {
    /** Starts `spec` and keeps it running until `stop()`. */
    add(spec: SupervisedProcess): void {
      if (stopping) return;
      const slot: Slot = { spec, policy: createRestartPolicy(opts.policy), startedAt: 0, restarts: 0 };
      slots.set(spec.name, slot);
      launch(slot);
    },

    /** Pids of the processes running now, by name. */
    pids(): Record<string, number> {
      const pids: Record<string, number> = {};
      for (const [name, slot] of slots) if (slot.child?.pid !== undefined) pids[name] = slot.child.pid;
      return pids;
    },

    /** SIGTERMs every running process once and resolves when all exited; a second call joins the first. */
    stop(): Promise<void> {
      stopping ??= (async () => {
        const exits: Promise<unknown>[] = [];
        for (const slot of slots.values()) {
          clearTimeout(slot.restartTimer);
          const child = slot.child;
          if (!child || child.exitCode !== null || child.signalCode !== null) continue;
          exits.push(new Promise((resolve) => child.once('exit', resolve)));
          child.kill('SIGTERM');
        }
        await Promise.all(exits);
      })();
      return stopping;
    },

    /** SIGKILLs every running process, synchronously: for a forced exit or an exit handler. */
    killAll(): void {
      stopping ??= Promise.resolve();
      for (const slot of slots.values()) {
        clearTimeout(slot.restartTimer);
        if (slot.child?.exitCode === null && slot.child.signalCode === null) slot.child.kill('SIGKILL');
      }
    },
  };
}

export type Supervisor = ReturnType<typeof createSupervisor>;
