// A BullMQ Worker whose moves to active pass through the node-wide gate.
import { type Job, type Processor, type RedisClient, Worker, type WorkerOptions } from 'bullmq';
import type { NodeGate } from './node-gate.js';

/**
 * One shard's Worker on a node. BullMQ's `concurrency` is per Worker, so each shard Worker may run
 * up to the node's whole capacity (an idle shard costs nothing, one hot shard can fill the node),
 * and the shared NodeGate keeps the node's total within it: a slot is taken in `moveToActive` and
 * freed after `processJob` moved the job to completed or failed. When BullMQ fetched the next job
 * in the same script that finished one, the slot passes to that job; it does so only while no other
 * shard waits for a slot, which keeps the gate fair across shards.
 */
export class GatedWorker<D = unknown, R = unknown> extends Worker<D, R> {
  readonly #gate: NodeGate;

  constructor(queueName: string, processor: Processor<D, R>, opts: WorkerOptions, gate: NodeGate) {
    super(queueName, processor, { ...opts, concurrency: gate.capacity });
    this.#gate = gate;
  }

  protected override async moveToActive(
    client: RedisClient,
    token: string,
    name?: string,
  ): Promise<Job<D, R>> {
    if (!(await this.#gate.acquire())) return undefined as unknown as Job<D, R>;
    let job: Job<D, R> | undefined;
    try {
      job = await super.moveToActive(client, token, name);
    } finally {
      if (!job) this.#gate.release();
    }
    return job;
  }

  override async processJob(
    job: Job<D, R>,
    token: string,
    fetchNextCallback: () => boolean = () => true,
  ): Promise<Job<D, R> | undefined> {
    let next: Job<D, R> | undefined;
    try {
      const fetchNext = () => fetchNextCallback() && !this.#gate.hasWaiters;
      next = (await super.processJob(job, token, fetchNext)) || undefined;
    } finally {
      if (!next) this.#gate.release();
    }
    return next;
  }
}
