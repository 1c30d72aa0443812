// The node-wide gate: at most `capacity` steps of this node are active in the store at once.

/**
 * A counting semaphore shared by every shard Worker of a node. A slot is taken before a job may be
 * moved to active and given back only after the job left active, so the cap holds in the store,
 * not only in memory. Waiters are served first come, first served, across shards.
 */
export class NodeGate {
  #free: number;
  #waiters: Array<(granted: boolean) => void> = [];
  #closed = false;

  constructor(readonly capacity: number) {
    this.#free = capacity;
  }

  /** Slots in use: steps active, or being moved to active, on this node. */
  get inUse(): number {
    return this.capacity - this.#free;
  }

  get hasWaiters(): boolean {
    return this.#waiters.length > 0;
  }

  /** Resolves true with a slot, or false once the gate is closed. */
  acquire(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Gives a slot back, straight to the longest waiter if there is one. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next(true);
    else this.#free++;
  }

  /** Refuses every waiter and every later acquire: the node takes no new steps. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter(false);
  }
}
