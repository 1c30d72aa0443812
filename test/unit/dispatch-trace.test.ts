// The opt-in dispatch trace: how it joins a completion and the next start into one hand-over, and
// how the report reads it back.
import { describe, expect, it } from 'vitest';
import { MOVE_KEYS } from '../../shared/bullmq-move.js';
import { newOrder } from '../../shared/domain/order.js';
import { completeStep, startStep } from '../../shared/domain/transitions.js';
import type { FoldedWrite, OrderStore } from '../../shared/order-store.js';
import { phaseTable, traceLines } from '../../stress/dispatch-trace-report.js';
import {
  createDispatchTrace,
  type DispatchTrace,
  type DispatchTraceClock,
  type HandOver,
  traceOrderWrites,
} from '../../workers/dispatch-trace.js';

/** A clock the test moves by hand; the main thread's CPU and wait grow with it as told. */
function manualClock() {
  let now = 1000;
  let sched: [number, number] = [0, 0];
  const clock: DispatchTraceClock & { advance(ms: number, cpu?: number, wait?: number): void } = {
    now: () => now,
    sched: () => [...sched],
    gcBetween: (from, to) => (from <= 1003 && to >= 1004 ? 1 : 0),
    advance(ms, cpu = 0, wait = 0) {
      now += ms;
      sched = [sched[0] + cpu, sched[1] + wait];
    },
  };
  return clock;
}

describe('a hand-over traced on one node', () => {
  it('is emitted once, at the next start write, with each phase timed from the hooks', () => {
    const clock = manualClock();
    const seen: HandOver[] = [];
    const trace = createDispatchTrace(clock, (h) => seen.push(h));
    trace.writeSent('o1.scheduling', 'complete');
    clock.advance(2, 0.5, 0.2);
    trace.writeReplied('o1.scheduling');
    clock.advance(1);
    trace.moveSent('o1.scheduling');
    clock.advance(3, 0.1, 1);
    trace.moveReplied('o1.scheduling', 'o1.pre-processing');
    clock.advance(0.5);
    trace.processStarted('o1.pre-processing');
    clock.advance(0.25);
    expect(seen).toEqual([]);
    trace.writeSent('o1.pre-processing', 'start');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      order_id: 'o1',
      step: 'scheduling',
      via: 'fetch-next',
      gap: 6.75,
      write: 2,
      to_move: 1,
      move: 3,
      pickup: 0.5,
      prep: 0.25,
      gc: 1,
      runq: 1.2,
      cpu: 0.6,
    });
    expect(seen[0]).not.toHaveProperty('fetch');
    // Joined once: a second start write of the same step (a retry) is no hand-over.
    trace.processStarted('o1.pre-processing');
    trace.writeSent('o1.pre-processing', 'start');
    expect(seen).toHaveLength(1);
  });

  it('says when the next step came by a later fetch, with that fetch timed', () => {
    const clock = manualClock();
    const seen: HandOver[] = [];
    const trace = createDispatchTrace(clock, (h) => seen.push(h));
    trace.writeSent('o2.processing', 'complete');
    trace.writeReplied('o2.processing');
    trace.moveSent('o2.processing');
    clock.advance(2);
    trace.moveReplied('o2.processing', 'o9.scheduling');
    clock.advance(4);
    trace.fetched('o2.post-processing', clock.now() - 3);
    trace.processStarted('o2.post-processing');
    trace.writeSent('o2.post-processing', 'start');
    expect(seen[0]).toMatchObject({ via: 'move-to-active', fetch: 3, pickup: 4, move: 2 });
  });

  it('emits nothing for a start whose previous step completed elsewhere, or for a first step', () => {
    const clock = manualClock();
    const seen: HandOver[] = [];
    const trace = createDispatchTrace(clock, (h) => seen.push(h));
    trace.processStarted('o3.pre-processing');
    trace.writeSent('o3.pre-processing', 'start');
    trace.processStarted('o4.scheduling');
    trace.writeSent('o4.scheduling', 'start');
    expect(seen).toEqual([]);
  });
});

describe('the trace report', () => {
  const line = (gap: number, move: number, extra = '') =>
    `{"level":30,"event":"dispatch-trace","via":"fetch-next","gap":${gap},"write":1,"to_move":0,"move":${move},"pickup":0,"prep":0,"gc":0,"runq":null,"cpu":null,"at":5${extra}}`;

  it('reads only the trace lines of a log, skipping a line cut short', () => {
    const text = [line(3, 1), '{"event":"step-started"}', '{"event":"dispatch-trace","gap"', line(4, 2)].join(
      '\n',
    );
    const lines = traceLines(text, 'n1');
    expect(lines.map((l) => [l.node, l.gap])).toEqual([
      ['n1', 3],
      ['n1', 4],
    ]);
  });

  it("puts each phase's mean over the slowest gaps beside its percentiles", () => {
    const lines = traceLines(
      [...Array.from({ length: 99 }, () => line(4, 1)), line(40, 30)].join('\n'),
      'n1',
    );
    const move = phaseTable(lines).find((r) => r.phase === 'move')!;
    expect(move.p50).toBe(1);
    expect(move.tail_mean).toBe(30);
    expect(phaseTable(lines).find((r) => r.phase === 'runq')!.count).toBe(0);
  });
});

describe('the record writes reported to the trace', () => {
  it('reports a completion folded into BullMQ’s move as the completion write, sent and answered', async () => {
    const calls: string[] = [];
    const trace = {
      writeSent: (jobId: string, kind: string) => calls.push(`sent ${kind} ${jobId}`),
      writeReplied: (jobId: string) => calls.push(`replied ${jobId}`),
    } as unknown as DispatchTrace;
    const placed = newOrder('3-01JHMXBCG00000000000000001', 3, { user_id: 'u' }, new Date(0));
    const started = startStep(placed, 'scheduling', 'n1', new Date(1000));
    const done = completeStep(started, 'scheduling', 'n1', new Date(2000));
    const jobId = '3-01JHMXBCG00000000000000001.scheduling';
    const move = [...Array.from({ length: MOVE_KEYS }, (_, i) => `k${i}`), jobId];
    const landed: FoldedWrite = { outcome: 'written', written: { order: done, version: 3 }, moved: 0 };
    const orders = {
      fencedWrite: async () => landed,
      completeWithMove: async () => {
        calls.push('fold');
        return landed;
      },
    } as unknown as Pick<OrderStore, 'fencedWrite' | 'completeWithMove'>;
    const traced = traceOrderWrites(orders, trace);
    expect(await traced.completeWithMove('t', { order: started, version: 2 }, done, move)).toBe(landed);
    expect(calls).toEqual([`sent complete ${jobId}`, 'fold', `replied ${jobId}`]);
  });
});
