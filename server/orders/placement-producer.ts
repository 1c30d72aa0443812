// A FlowProducer that commits an order's record and its chain in one MULTI of the shard's slot.
import { type FlowJob, FlowProducer, Queue } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import type { ShardKeys } from '../../shared/keys.js';

/**
 * BullMQ's FlowProducer adds a flow in one MULTI; this adds the caller's commands (the order
 * record, the user index) to that same MULTI, so a placement is stored whole or not at all: a
 * record never exists without its chain, nor a chain without its record. Every key involved
 * shares the shard's hash tag, which a MULTI on a cluster needs.
 */
export class PlacementProducer extends FlowProducer {
  /** The shard queues a chain was removed from, made on first use, on the producer's connection. */
  private readonly chainQueues = new Map<string, Queue>();

  /**
   * Commits `queueCommands` and the chain in one MULTI; resolves with the replies of `queueCommands`'
   * own commands (theirs to judge). A BullMQ script's negative reply throws.
   */
  async addWith(flow: FlowJob, queueCommands: (multi: ChainableCommander) => void): Promise<unknown[]> {
    const client = await this.connection.client;
    const multi = client.multi();
    queueCommands(multi as unknown as ChainableCommander);
    const own = (multi as unknown as { length: number }).length;
    await this.addNode({ multi, node: flow });
    const results = await multi.exec();
    if (!results) throw new Error('placement transaction was discarded');
    for (const [i, [error, reply]] of results.entries()) {
      if (error) throw error;
      if (i >= own && typeof reply === 'number' && reply < 0)
        throw new Error(`BullMQ refused a step job (code ${reply})`);
    }
    return results.slice(0, own).map(([, reply]) => reply);
  }

  /**
   * Removes the chain whose root job is `rootJobId` from `keys`' queue, children included: a chain
   * that a placement's MULTI added for an id whose record it did not create (ADR 0022). True once
   * no job of it is left; false while one is locked by a worker (BullMQ removes nothing then).
   */
  async removeChain(keys: ShardKeys, rootJobId: string): Promise<boolean> {
    let queue = this.chainQueues.get(keys.queueName);
    if (!queue) {
      queue = new Queue(keys.queueName, { connection: this.opts.connection, prefix: keys.queuePrefix });
      // A failed connection start is re-emitted as 'error'; the call that needed it throws anyway.
      queue.on('error', () => {});
      this.chainQueues.set(keys.queueName, queue);
    }
    return (await queue.remove(rootJobId, { removeChildren: true })) === 1;
  }

  override async close(): Promise<void> {
    await Promise.allSettled([...this.chainQueues.values()].map((queue) => queue.close()));
    await super.close();
  }

  /**
   * How many of the jobs `jobIds` of `keys`' queue exist: one EXISTS, since every job hash shares the
   * shard's slot. "Whole or not at all" holds for the MULTI as sent, but Redis does not roll back a
   * transaction whose command failed at run time (its other commands still apply), so a replay checks.
   */
  async existingJobs(keys: ShardKeys, jobIds: string[]): Promise<number> {
    const client = (await this.connection.client) as unknown as Pick<Redis, 'exists'>;
    return client.exists(...jobIds.map((id) => keys.queueKey(id)));
  }
}
