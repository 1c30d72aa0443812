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
  #paused = false;

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

  get closed(): boolean {
    return this.#closed;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Whether a finishing job may hand its slot straight to the next job of its own shard. */
  get canHandOver(): boolean {
    return !this.#paused && this.#waiters.length === 0;
  }

  /** Takes a free slot if there is one, without waiting. */
  tryAcquire(): boolean {
    if (this.#closed || this.#paused || this.#free === 0) return false;
    this.#free--;
    return true;
  }

  /** Resolves true with a slot, or false once the gate is closed or `signal` aborts the wait. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = (granted: boolean) => {
        signal?.removeEventListener('abort', abort);
        resolve(granted);
      };
      const abort = () => {
        const index = this.#waiters.indexOf(waiter);
        if (index !== -1) this.#waiters.splice(index, 1);
        resolve(false);
      };
      signal?.addEventListener('abort', abort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Gives a slot back, straight to the longest waiter if there is one. */
  release(): void {
    const next = this.#paused ? undefined : this.#waiters.shift();
    if (next) next(true);
    else this.#free++;
  }

  /** Holds every new step back (waiters keep waiting); steps in flight go on. */
  pause(): void {
    this.#paused = true;
  }

  /** Lets steps in again, serving the waiters first. */
  resume(): void {
    this.#paused = false;
    while (this.#free > 0 && this.#waiters.length > 0) {
      this.#free--;
      this.#waiters.shift()!(true);
    }
  }

  /** Refuses every waiter and every later acquire: the node takes no new steps. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter(false);
  }
}
