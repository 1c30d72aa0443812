// The node-wide gate (NodeGate) and GatedWorker's slot bookkeeping around BullMQ, without a store.
import type { Job } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NodeGate } from '../../workers/node-gate.js';
import { base, jobOf, offlineWorker, stubFinish, type TestWorker } from './fakes/gated-worker.js';

/** Lets every settled promise run its callbacks. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A promise whose outcome can be looked at without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T } = { settled: false };
  void promise.then((value) => Object.assign(state, { settled: true, value }));
  return state;
}

describe('when the gate has a cap of 50', () => {
  it('grants 50 slots at once and makes the 51st wait until one is released', async () => {
    const gate = new NodeGate(50);
    const granted = await Promise.all(Array.from({ length: 50 }, () => gate.acquire()));
    expect(granted.every(Boolean)).toBe(true);
    expect(gate.inUse).toBe(50);
    const fiftyFirst = track(gate.acquire());
    await settle();
    expect(fiftyFirst.settled).toBe(false);
    expect(gate.tryAcquire()).toBe(false);
    gate.release();
    await settle();
    expect(fiftyFirst).toEqual({ settled: true, value: true });
    expect(gate.inUse).toBe(50);
  });
});

describe('when shards wait for slots', () => {
  it('serves the waiters first come, first served, handing each released slot straight over', async () => {
    const gate = new NodeGate(1);
    gate.tryAcquire();
    const served: string[] = [];
    const waits = ['shard-7', 'shard-2', 'shard-9'].map((shard) =>
      gate.acquire().then((granted) => granted && served.push(shard)),
    );
    gate.release();
    expect(gate.tryAcquire()).toBe(false); // a newcomer does not overtake the waiters
    gate.release();
    gate.release();
    await Promise.all(waits);
    expect(served).toEqual(['shard-7', 'shard-2', 'shard-9']);
    expect(gate.inUse).toBe(1);
  });

  it('lets a finishing job hand its slot over only while no one waits and the gate is not paused', () => {
    const gate = new NodeGate(1);
    gate.tryAcquire();
    expect(gate.canHandOver).toBe(true);
    const controller = new AbortController();
    void gate.acquire(controller.signal);
    expect(gate.canHandOver).toBe(false);
    controller.abort();
    expect(gate.canHandOver).toBe(true);
    gate.pause();
    expect(gate.canHandOver).toBe(false);
  });
});

describe('when the gate is paused', () => {
  it('takes no new step, frees released slots instead of handing them over, and serves waiters on resume', async () => {
    const gate = new NodeGate(2);
    gate.tryAcquire();
    gate.tryAcquire();
    gate.pause();
    const first = track(gate.acquire());
    const second = track(gate.acquire());
    const third = track(gate.acquire());
    gate.release();
    gate.release();
    await settle();
    expect([first.settled, second.settled, third.settled]).toEqual([false, false, false]);
    expect(gate.inUse).toBe(0);
    expect(gate.tryAcquire()).toBe(false);
    gate.resume();
    await settle();
    expect([first.value, second.value, third.settled]).toEqual([true, true, false]);
    expect(gate.inUse).toBe(2);
  });
});

describe('when the gate is closed', () => {
  it('releases every waiter with false and refuses every later acquire', async () => {
    const gate = new NodeGate(1);
    gate.tryAcquire();
    const waits = [gate.acquire(), gate.acquire()];
    gate.close();
    expect(await Promise.all(waits)).toEqual([false, false]);
    gate.release();
    expect(await gate.acquire()).toBe(false);
    expect(gate.tryAcquire()).toBe(false);
  });
});

describe('when a wait is aborted', () => {
  it('resolves false, leaves the queue, and a later release frees the slot instead', async () => {
    const gate = new NodeGate(1);
    gate.tryAcquire();
    const controller = new AbortController();
    const wait = gate.acquire(controller.signal);
    controller.abort();
    expect(await wait).toBe(false);
    expect(gate.hasWaiters).toBe(false);
    gate.release();
    expect(gate.inUse).toBe(0);
    expect(await gate.acquire(AbortSignal.abort())).toBe(true); // a free slot is taken even so
    expect(await gate.acquire(AbortSignal.abort())).toBe(false); // a full gate does not queue it
    expect(gate.hasWaiters).toBe(false);
  });
});

const workers: TestWorker[] = [];
const workerOn = (gate: NodeGate) => {
  const worker = offlineWorker(gate);
  workers.push(worker);
  return worker;
};

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(workers.splice(0).map((worker) => worker.close()));
});

describe('when GatedWorker moves a job to active', () => {
  it('runs BullMQ with the whole node capacity as its concurrency', () => {
    expect(workerOn(new NodeGate(50)).concurrency).toBe(50);
  });

  it('takes a slot before the move and keeps it for the job it got', async () => {
    const gate = new NodeGate(2);
    const inUseAtMove: number[] = [];
    vi.spyOn(base, 'moveToActive').mockImplementation(async () => {
      inUseAtMove.push(gate.inUse);
      return jobOf('a');
    });
    expect(await workerOn(gate).fetch()).toEqual(jobOf('a'));
    expect(inUseAtMove).toEqual([1]);
    expect(gate.inUse).toBe(1);
  });

  it('gives the slot back when BullMQ finds no job or the move throws', async () => {
    const gate = new NodeGate(2);
    const move = vi.spyOn(base, 'moveToActive').mockResolvedValueOnce(undefined);
    const worker = workerOn(gate);
    expect(await worker.fetch()).toBeUndefined();
    expect(gate.inUse).toBe(0);
    move.mockRejectedValueOnce(new Error('connection lost'));
    await expect(worker.fetch()).rejects.toThrow('connection lost');
    expect(gate.inUse).toBe(0);
  });

  it('does not wait for a slot while it holds an unstarted job: it reports no job when the gate is full', async () => {
    const gate = new NodeGate(2);
    const move = vi.spyOn(base, 'moveToActive').mockResolvedValue(jobOf('a'));
    const holder = workerOn(gate);
    expect(await holder.fetch()).toEqual(jobOf('a'));
    expect(await holder.fetch()).toEqual(jobOf('a')); // a free slot is still taken
    expect(await holder.fetch()).toBeUndefined();
    expect(move).toHaveBeenCalledTimes(2);
    expect(gate.hasWaiters).toBe(false);

    // A Worker holding no unstarted job waits for a slot, and gets no job if the gate closes.
    const waiting = track(workerOn(gate).fetch());
    await settle();
    expect(waiting.settled).toBe(false);
    expect(gate.hasWaiters).toBe(true);
    gate.close();
    await settle();
    expect(waiting).toEqual({ settled: true, value: undefined });
    expect(move).toHaveBeenCalledTimes(2);
  });
});

describe('when GatedWorker finishes a job', () => {
  /** A worker holding the only slot for `job` while another shard waits for one. */
  async function finishWhileOthersWait(job: Job, next: Job) {
    const gate = new NodeGate(1);
    vi.spyOn(base, 'moveToActive').mockResolvedValue(job);
    await workerOn(gate).fetch();
    const otherShard = track(gate.acquire());
    const asked = stubFinish(next);
    const result = await workers[0]!.processJob(job, 'token');
    await settle();
    return { gate, result, asked, otherShard };
  }

  it('keeps the slot for the fetched next step of the same order even while other shards wait', async () => {
    const { gate, result, asked, otherShard } = await finishWhileOthersWait(
      jobOf('o1.scheduling', 'bull:q:o1.pre-processing'),
      jobOf('o1.pre-processing'),
    );
    expect([asked, result, otherShard.settled]).toEqual([[true], jobOf('o1.pre-processing'), false]);
    expect(gate.inUse).toBe(1);
  });

  it('gives the slot to the waiting shard instead of fetching when the job has no parent', async () => {
    const { gate, result, asked, otherShard } = await finishWhileOthersWait(
      jobOf('o1.post-processing'),
      jobOf('o2.scheduling'),
    );
    expect([asked, result, otherShard]).toEqual([[false], undefined, { settled: true, value: true }]);
    expect(gate.inUse).toBe(1);
  });

  it('hands the slot over to any next job when no one waits, and frees it when none came', async () => {
    const gate = new NodeGate(1);
    vi.spyOn(base, 'moveToActive').mockResolvedValue(jobOf('a'));
    const asked = stubFinish(jobOf('b'));
    const worker = workerOn(gate);
    await worker.fetch();
    expect(await worker.processJob(jobOf('a'), 'token')).toEqual(jobOf('b'));
    expect(gate.inUse).toBe(1);
    // b is fetched but not started: the Worker must not wait for a slot that only b's end frees.
    expect(await worker.fetch()).toBeUndefined();
    expect(gate.hasWaiters).toBe(false);
    // BullMQ's own callback says no more (its concurrency is full): nothing is fetched, even for an order.
    expect(await worker.processJob(jobOf('b', 'parent'), 'token', () => false)).toBeUndefined();
    expect(asked).toEqual([true, false]);
    expect(gate.inUse).toBe(0);
  });

  it('fetches nothing, even for the same order, while the gate is paused', async () => {
    const gate = new NodeGate(1);
    vi.spyOn(base, 'moveToActive').mockResolvedValue(jobOf('o1.scheduling', 'parent'));
    const asked = stubFinish(jobOf('o1.pre-processing'));
    const worker = workerOn(gate);
    await worker.fetch();
    gate.pause();
    expect(await worker.processJob(jobOf('o1.scheduling', 'parent'), 'token')).toBeUndefined();
    expect(asked).toEqual([false]);
    expect(gate.inUse).toBe(0);
  });

  it('stops its own wait for a slot when the finished job hands its slot to the next one', async () => {
    const gate = new NodeGate(1);
    const move = vi.spyOn(base, 'moveToActive').mockResolvedValue(jobOf('a'));
    let finish: (next: Job) => void = () => {};
    vi.spyOn(base, 'processJob').mockImplementation(() => new Promise((resolve) => (finish = resolve)));
    const worker = workerOn(gate);
    await worker.fetch();
    const processing = worker.processJob(jobOf('a'), 'token');
    const waiting = track(worker.fetch()); // BullMQ's loop looks for more while `a` runs
    await settle();
    expect(gate.hasWaiters).toBe(true);
    finish(jobOf('b'));
    expect(await processing).toEqual(jobOf('b'));
    await settle();
    expect(waiting).toEqual({ settled: true, value: undefined });
    expect(move).toHaveBeenCalledTimes(1);
    expect(gate.hasWaiters).toBe(false);
    expect(gate.inUse).toBe(1); // b's
  });
});
