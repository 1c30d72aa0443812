// GatedWorker without a store: BullMQ's own moves stubbed, its connections ended before any connect.
import { type Job, type RedisClient, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { vi } from 'vitest';
import { GatedWorker } from '../../../workers/gated-worker.js';
import type { NodeGate } from '../../../workers/node-gate.js';

/** BullMQ's own moveToActive and processJob, which GatedWorker calls as `super`. */
export interface WorkerBase {
  moveToActive(client: RedisClient, token: string, name?: string): Promise<Job | undefined>;
  processJob(job: Job, token: string, fetchNext: () => boolean): Promise<Job | undefined>;
}
export const base = Worker.prototype as unknown as WorkerBase;

/** Exposes the protected moveToActive as BullMQ's main loop calls it. */
export class TestWorker extends GatedWorker {
  fetch(token = 'token'): Promise<Job | undefined> {
    return this.moveToActive(undefined as unknown as RedisClient, token);
  }
}

/**
 * Stubs BullMQ's finish of a job as its completion script behaves: it asks `fetchNext()` and only
 * when told yes fetches `next`. Returns the answers, in order.
 */
export function stubFinish(next: Job): boolean[] {
  const asked: boolean[] = [];
  vi.spyOn(base, 'processJob').mockImplementation(async (_job, _token, fetchNext) => {
    asked.push(fetchNext());
    return asked.at(-1) ? next : undefined;
  });
  return asked;
}

export const jobOf = (id: string, parentKey?: string) => ({ id, parentKey }) as Job;

/**
 * A GatedWorker that can never reach a server. BullMQ's constructor connects its client and a
 * duplicate of it (the blocking one): both are ended before that, so each refuses at once, offline.
 */
export function offlineWorker(gate: NodeGate): TestWorker {
  const connection = new Redis({ lazyConnect: true, maxRetriesPerRequest: null });
  const duplicate = connection.duplicate.bind(connection);
  connection.duplicate = (override) => {
    const blocking = duplicate(override);
    blocking.disconnect();
    return blocking;
  };
  connection.disconnect();
  const worker = new TestWorker('unit', async () => undefined, { connection, autorun: false }, gate);
  worker.on('error', () => {}); // the refused connections
  return worker;
}
