// Opt-in profile of the dispatch gap (DISPATCH_TRACE=1): when the next step of an order starts on the
// node that completed the previous one, one `dispatch-trace` log line with the time of each phase in
// between. Off (the default) nothing of this is built; `npm run bench` hands the variable to the
// nodes, and stress/dispatch-trace-report.ts tabulates the lines of their logs.
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { MOVE_KEYS } from '../shared/bullmq-move.js';
import type { OrderRecord } from '../shared/domain/order.js';
import { STEPS } from '../shared/domain/order.js';
import type { Logger } from '../shared/logger.js';
import { parseStepJobId } from '../shared/order-id.js';
import type { OrderStore, VersionedOrder } from '../shared/order-store.js';

/** One hand-over, ms. The phases add up to `gap`, from the completion write's send to the next start write's. */
export interface HandOver {
  order_id: string;
  /** The step that completed. */
  step: string;
  /** The next step came back with BullMQ's move of this one (`fetch-next`) or by a later fetch. */
  via: 'fetch-next' | 'move-to-active';
  gap: number;
  /** Completion write sent → its reply. */
  write: number;
  /** Its reply → BullMQ's moveToFinished sent: the processor's return through BullMQ. */
  to_move: number;
  /** moveToFinished sent → its reply. */
  move: number;
  /** Its reply → the next step's processJob: the Worker's main loop picking the job up. */
  pickup: number;
  /** processJob → the next start write sent: the processor up to its start write. */
  prep: number;
  /** With `move-to-active`: how long the fetch that got the next job took, its gate wait included. */
  fetch?: number;
  /** GC pauses of this process inside the gap. */
  gc: number;
  /** The main thread's time waiting for a CPU inside the gap (/proc/self/schedstat), or null. */
  runq: number | null;
  /** The main thread's time on a CPU inside the gap (any work, not only this hand-over's), or null. */
  cpu: number | null;
  /** Epoch ms of the completion write's send. */
  at: number;
}

interface Pending {
  step: string;
  sent: number;
  replied?: number;
  moveSent?: number;
  moveReplied?: number;
  /** The job id BullMQ's move handed over, if any. */
  handedTo?: string;
  sched: [number, number] | null;
}

interface Started {
  processed: number;
  fetch?: number;
}

export interface DispatchTraceClock {
  /** Monotonic ms. */
  now(): number;
  /** The main thread's [ms on a CPU, ms waiting for one] so far, or null where not readable. */
  sched(): [number, number] | null;
  /** GC pause ms between two `now()` readings. */
  gcBetween(from: number, to: number): number;
}

const PENDING_LIMIT = 5000;

/** The hand-overs of one node, joined from the hooks below; `emit` gets each one once complete. */
export function createDispatchTrace(clock: DispatchTraceClock, emit: (handOver: HandOver) => void) {
  const pending = new Map<string, Pending>();
  const started = new Map<string, Started>();
  const fetched = new Map<string, number>();
  const bound = <T>(map: Map<string, T>, key: string, value: T) => {
    map.set(key, value);
    if (map.size > PENDING_LIMIT) map.delete(map.keys().next().value!);
  };

  return {
    /** A fenced write of `jobId` went out: its completion (`complete`) or its start (`start`). */
    writeSent(jobId: string, kind: 'start' | 'complete'): void {
      const id = parseStepJobId(jobId);
      if (!id) return;
      const now = clock.now();
      if (kind === 'complete') {
        bound(pending, id.order_id, { step: id.step, sent: now, sched: clock.sched() });
        return;
      }
      const previous = STEPS[STEPS.indexOf(id.step as (typeof STEPS)[number]) - 1];
      const done = pending.get(id.order_id);
      const start = started.get(jobId);
      started.delete(jobId);
      if (!done || done.step !== previous || !start || done.moveReplied === undefined) return;
      pending.delete(id.order_id);
      const sched = clock.sched();
      const viaNext = done.handedTo === jobId;
      emit({
        order_id: id.order_id,
        step: done.step,
        via: viaNext ? 'fetch-next' : 'move-to-active',
        gap: now - done.sent,
        write: done.replied! - done.sent,
        to_move: done.moveSent! - done.replied!,
        move: done.moveReplied - done.moveSent!,
        pickup: start.processed - done.moveReplied,
        prep: now - start.processed,
        ...(viaNext ? {} : { fetch: start.fetch }),
        gc: clock.gcBetween(done.sent, now),
        runq: sched && done.sched ? sched[1] - done.sched[1] : null,
        cpu: sched && done.sched ? sched[0] - done.sched[0] : null,
        at: performance.timeOrigin + done.sent,
      });
    },
    /** The completion write of `jobId` was answered. */
    writeReplied(jobId: string): void {
      const done = pending.get(parseStepJobId(jobId)?.order_id ?? '');
      if (done && done.replied === undefined) done.replied = clock.now();
    },
    /** BullMQ sends the move of `jobId` to completed. */
    moveSent(jobId: string): void {
      const done = pending.get(parseStepJobId(jobId)?.order_id ?? '');
      if (done && done.replied !== undefined) done.moveSent = clock.now();
    },
    /** The move was answered, with the job it fetched in the same script if any. */
    moveReplied(jobId: string, next: string | undefined): void {
      const done = pending.get(parseStepJobId(jobId)?.order_id ?? '');
      if (!done || done.moveSent === undefined) return;
      done.moveReplied = clock.now();
      done.handedTo = next;
    },
    /** A fetch (gate wait and moveToActive) that began at `since` got `jobId`. */
    fetched(jobId: string, since: number): void {
      bound(fetched, jobId, clock.now() - since);
    },
    /** BullMQ hands `jobId` to processJob. */
    processStarted(jobId: string): void {
      const fetch = fetched.get(jobId);
      fetched.delete(jobId);
      bound(started, jobId, { processed: clock.now(), fetch });
    },
  };
}

export type DispatchTrace = ReturnType<typeof createDispatchTrace>;

/** The hooks' target: a Worker's (protected) fetch, process and completion. */
interface TracedWorker {
  moveToActive(...args: unknown[]): Promise<{ id?: string } | undefined>;
  processJob(job: { id?: string }, ...rest: unknown[]): Promise<unknown>;
  handleCompleted(
    result: unknown,
    job: { id?: string },
    ...rest: unknown[]
  ): Promise<{ id?: string } | undefined>;
}

/** Wraps `worker`'s fetch, processing and completion with the trace's hooks (on the instance only). */
export function traceWorker(worker: object, trace: DispatchTrace, now = () => performance.now()): void {
  const w = worker as TracedWorker;
  const moveToActive = w.moveToActive.bind(w);
  const processJob = w.processJob.bind(w);
  const handleCompleted = w.handleCompleted.bind(w);
  w.moveToActive = async (...args) => {
    const since = now();
    const job = await moveToActive(...args);
    if (job?.id) trace.fetched(job.id, since);
    return job;
  };
  w.processJob = (job, ...rest) => {
    if (job.id) trace.processStarted(job.id);
    return processJob(job, ...rest);
  };
  w.handleCompleted = async (result, job, ...rest) => {
    if (job.id) trace.moveSent(job.id);
    const next = await handleCompleted(result, job, ...rest);
    if (job.id) trace.moveReplied(job.id, next?.id);
    return next;
  };
}

/** Whether `next` over `expected` starts or completes the step of `jobId` (else undefined). */
function writeKind(
  jobId: string,
  expected: VersionedOrder,
  next: OrderRecord,
): 'start' | 'complete' | undefined {
  const step = parseStepJobId(jobId)?.step;
  const before = expected.order.steps.find((s) => s.name === step);
  const after = next.steps.find((s) => s.name === step);
  if (!before || !after) return undefined;
  if (after.attempts.length > before.attempts.length) return 'start';
  return after.status === 'completed' && before.status !== 'completed' ? 'complete' : undefined;
}

/**
 * `orders` with its fenced writes of a step's start and completion reported to `trace`. A completion
 * folded into BullMQ's move (docs/adr/0023) is one round trip: its `write` phase holds the move, and
 * the Worker's later `handleCompleted` only hands the fold's reply back (`move` about 0).
 */
export function traceOrderWrites<O extends Pick<OrderStore, 'fencedWrite' | 'completeWithMove'>>(
  orders: O,
  trace: DispatchTrace,
): O {
  /** Sends one write of `jobId`, reporting it when it starts or completes the step. */
  async function reported<T>(
    jobId: string,
    expected: VersionedOrder,
    next: OrderRecord,
    send: () => Promise<T>,
  ) {
    const kind = writeKind(jobId, expected, next);
    if (kind) trace.writeSent(jobId, kind);
    const result = await send();
    if (kind === 'complete') trace.writeReplied(jobId);
    return result;
  }
  const fencedWrite: OrderStore['fencedWrite'] = (jobId, token, expected, next, options) =>
    reported(jobId, expected, next, () => orders.fencedWrite(jobId, token, expected, next, options));
  const completeWithMove: OrderStore['completeWithMove'] = (token, expected, next, move) =>
    reported(String(move[MOVE_KEYS]), expected, next, () =>
      orders.completeWithMove(token, expected, next, move),
    );
  return Object.assign(Object.create(orders) as O, { fencedWrite, completeWithMove });
}

/** The process's real clock: performance.now, /proc/self/schedstat, and its GC pauses as observed. */
export function processClock(): DispatchTraceClock & { stop(): void } {
  const pauses: Array<[number, number]> = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push([entry.startTime, entry.startTime + entry.duration]);
    if (pauses.length > 256) pauses.splice(0, pauses.length - 256);
  });
  observer.observe({ entryTypes: ['gc'] });
  let readable = true;
  return {
    now: () => performance.now(),
    sched() {
      if (!readable) return null;
      try {
        const [cpu, wait] = readFileSync('/proc/self/schedstat', 'utf8').split(' ').map(Number);
        return [cpu! / 1e6, wait! / 1e6];
      } catch {
        readable = false;
        return null;
      }
    },
    gcBetween(from, to) {
      let ms = 0;
      for (const [start, end] of pauses) ms += Math.max(0, Math.min(end, to) - Math.max(start, from));
      return ms;
    },
    stop: () => observer.disconnect(),
  };
}

const RESOLUTION_MS = 5;

/**
 * The node's trace: hand-overs logged as `dispatch-trace` lines; `close()` logs the process's event
 * loop delay, GC pauses and CPU wait over its life as one `dispatch-trace-summary` line.
 */
export function createNodeDispatchTrace(log: Logger) {
  const clock = processClock();
  // The histogram records each interval between its timer's runs: the delay is what exceeds RESOLUTION_MS.
  const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  loop.enable();
  const gcs: number[] = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcs.push(entry.duration);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const since = { at: performance.now(), sched: clock.sched() };
  const trace = createDispatchTrace(clock, (handOver) => log.info({ event: 'dispatch-trace', ...handOver }));
  return {
    trace,
    close(): void {
      loop.disable();
      clock.stop();
      gcObserver.disconnect();
      const sched = clock.sched();
      const delay = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - RESOLUTION_MS);
      const sorted = gcs.sort((a, b) => a - b);
      log.info({
        event: 'dispatch-trace-summary',
        seconds: Math.round(performance.now() - since.at) / 1000,
        loop_delay_ms: {
          p50: delay(loop.percentile(50)),
          p99: delay(loop.percentile(99)),
          max: delay(loop.max),
        },
        gc: {
          count: sorted.length,
          total_ms: Math.round(sorted.reduce((a, b) => a + b, 0)),
          p99_ms: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
          max_ms: sorted.at(-1) ?? 0,
        },
        main_thread_ms:
          sched && since.sched
            ? { cpu: Math.round(sched[0] - since.sched[0]), runq_wait: Math.round(sched[1] - since.sched[1]) }
            : null,
      });
    },
  };
}
