// A BullMQ Worker whose moves to active pass through the node-wide gate.
import { Job, type Processor, type RedisClient, Worker, type WorkerOptions } from 'bullmq';
import { checkMoveLayout, MOVE_KEYS, moveArgsOf, nextJobOf } from '../shared/bullmq-move.js';
import { offerMove } from './completion-move.js';
import type { NodeGate } from './node-gate.js';

/**
 * One shard's Worker on a node. BullMQ's `concurrency` is per Worker, so each shard Worker may run
 * up to the node's whole capacity (an idle shard costs nothing, one hot shard can fill the node),
 * and the shared NodeGate keeps the node's total within it: a slot is taken in `moveToActive` and
 * freed after `processJob` moved the job to completed or failed. When BullMQ fetched the next job
 * in the same script that finished one, the slot passes to that job: always when it is the next step
 * of the same order, otherwise only while no other shard waits for a slot (fairness across shards).
 *
 * BullMQ's main loop fetches jobs one after another and starts processing them only once it stops
 * fetching. So a Worker may wait for a slot only while it holds no fetched-but-unstarted job:
 * otherwise it would wait for slots that only it can free, and with every Worker doing so the
 * node would stop. Holding one, it takes a free slot or reports no job, and BullMQ starts what it has.
 */
const SLOT_HANDED_OVER = new Error('a slot passed to a fetched job; stop waiting for another');

/**
 * The longest a Worker waits inside BullMQ's blocking wait: its block is at most 10 s, its watchdog
 * fires 1 s later, and recovering the blocking connection takes a few seconds more.
 */
export const BLOCKING_WAIT_DEADLINE_MS = 15_000;

/** BullMQ's blocking wait for the next job; private in its typings, called by its main loop. */
type BlockingWait = (bclient: RedisClient, blockUntil: number) => Promise<number>;

/** The Worker gave up a blocking wait that outlived its deadline, and looks for a job instead. */
export class BlockingWaitAbandonedError extends Error {
  constructor(queueName: string) {
    super(
      `the blocking wait of ${queueName} outlived ${BLOCKING_WAIT_DEADLINE_MS} ms; looking for a job without it`,
    );
    this.name = this.constructor.name;
  }
}

export class GatedWorker<D = unknown, R = unknown> extends Worker<D, R> {
  readonly #gate: NodeGate;
  /** Slots this Worker holds for jobs that BullMQ has not yet passed to processJob. */
  #unstarted = 0;
  #waiting: AbortController | undefined;

  /**
   * `lockOwner`, when given, replaces the Worker's random id. BullMQ makes every lock token
   * `${id}:${counter}`, so each lock then names the node instance that holds it, and a survivor
   * can release exactly a dead instance's locks (workers/takeover-store.ts). It must be unique per
   * Worker and run: `<NODE_ID>@<random>/s<shard>`.
   */
  constructor(
    queueName: string,
    processor: Processor<D, R>,
    opts: WorkerOptions,
    gate: NodeGate,
    lockOwner?: string,
  ) {
    super(queueName, processor, { ...opts, concurrency: gate.capacity });
    this.#gate = gate;
    // readonly in BullMQ's types only; read when each token is made (mainLoop), never cached.
    if (lockOwner) (this as { id: string }).id = lockOwner;
    this.#boundBlockingWait();
    // Fails at start-up, not at the first completion, if BullMQ's move is not the one folded into.
    checkMoveLayout(new Job(this, 'layout-check', {}, {}, 'layout-check'), this.toKey('layout-check'));
  }

  /**
   * BullMQ's blocking wait races BZPOPMIN against a watchdog; when that fires, it awaits the 'end'
   * of its blocking Cluster client before reconnecting it. After a failover of the master it blocked
   * on, BullMQ's own Cluster reconnect of that client runs under it, the 'end' never comes, and the
   * wait never returns: the Worker, healthy in every other way, fetches no job of its queue again
   * (the chaos run found every Worker of a shard, on every node, stuck so for minutes, the shard's
   * orders `accepted` forever; test/integration/blocking-wait.test.ts). So each wait gets a
   * deadline: past it, the Worker stops waiting and looks for a job, as after a block that timed out.
   * The abandoned wait is left to settle by itself; its connection is reused by the next one.
   */
  #boundBlockingWait(): void {
    const self = this as unknown as { waitForJob: BlockingWait };
    if (typeof self.waitForJob !== 'function')
      throw new Error('bullmq changed: Worker.waitForJob is gone; see workers/gated-worker.ts');
    const blockingWait = self.waitForJob.bind(this);
    self.waitForJob = (bclient, blockUntil) => {
      let timer: NodeJS.Timeout | undefined;
      const waiting = blockingWait(bclient, blockUntil);
      const deadline = new Promise<number>((resolve) => {
        timer = setTimeout(() => {
          this.emit('error', new BlockingWaitAbandonedError(this.name));
          resolve(0);
        }, BLOCKING_WAIT_DEADLINE_MS);
      });
      waiting.catch((error: Error) => this.emit('error', error));
      return Promise.race([waiting, deadline]).finally(() => clearTimeout(timer));
    };
  }

  /**
   * Runs BullMQ's stalled check of this queue now, not at its next interval, and emits `stalled`
   * for each job it moved back to wait, as BullMQ's own checker does.
   */
  async checkStalledNow(): Promise<string[]> {
    const moved = await this.scripts.moveStalledJobsToWait();
    for (const jobId of moved) this.emit('stalled', jobId, 'active');
    return moved;
  }

  protected override async moveToActive(
    client: RedisClient,
    token: string,
    name?: string,
  ): Promise<Job<D, R>> {
    const none = undefined as unknown as Job<D, R>;
    if (this.#unstarted > 0) {
      if (!this.#gate.tryAcquire()) return none;
    } else if (!this.#gate.tryAcquire()) {
      // Only a real wait gets an AbortController: most moves find a free slot at once.
      this.#waiting = new AbortController();
      const granted = await this.#gate.acquire(this.#waiting.signal);
      this.#waiting = undefined;
      if (!granted) return none;
    }
    let job: Job<D, R> | undefined;
    try {
      job = await super.moveToActive(client, token, name);
    } finally {
      if (job) this.#unstarted++;
      else this.#gate.release();
    }
    return job;
  }

  /**
   * Offers BullMQ's move of `job` to completed to its run, which folds its completion write into it
   * (workers/completion-move.ts). Once that fold landed, the job is completed and its lock released:
   * the lock is no longer renewed, and BullMQ's own move to completed, called after the processor
   * returns, hands back the fold's reply (the next job it fetched, if any) instead of moving it again.
   */
  #offerMove(job: Job<D, R>, token: string, fetchNext: () => boolean): void {
    const worker = this as unknown as { lockManager: { untrackJob(jobId: string): void } };
    let finishedOn = 0;
    offerMove(job as Job, {
      args: (returnValue) => {
        const args = moveArgsOf(
          job as Job,
          returnValue,
          token,
          fetchNext() && !(this.closing || this.paused),
        );
        finishedOn = Number(args[MOVE_KEYS + 1]);
        return args;
      },
      landed: (reply) => {
        worker.lockManager.untrackJob(job.id!);
        job.moveToCompleted = async (returnValue) => {
          job.returnvalue = returnValue;
          job.finishedOn = finishedOn;
          job.attemptsMade += 1;
          return nextJobOf(reply) as Awaited<ReturnType<Job<D, R>['moveToCompleted']>>;
        };
      },
    });
  }

  override async processJob(
    job: Job<D, R>,
    token: string,
    fetchNextCallback: () => boolean = () => true,
  ): Promise<Job<D, R> | undefined> {
    this.#unstarted--;
    let next: Job<D, R> | undefined;
    try {
      // A step with a parent is a link of an order's chain: completing it RPUSHes the next step to
      // the end of the wait list that BullMQ pops, so the fetched job is that order's next step. It
      // keeps the slot even while other shards wait: an order under way is finished before new ones
      // start (measured: next-step gap p99 2.1 s -> 84 ms when saturated), fairness is unchanged.
      const continuesOrder = job.parentKey !== undefined && !this.#gate.paused;
      const fetchNext = () => fetchNextCallback() && (this.#gate.canHandOver || continuesOrder);
      this.#offerMove(job, token, fetchNext);
      next = (await super.processJob(job, token, fetchNext)) || undefined;
    } finally {
      if (next) {
        // The slot passed to `next`, which BullMQ starts only once this Worker stops waiting.
        this.#unstarted++;
        // A constant reason: abort() without one builds a DOMException with a stack every time.
        this.#waiting?.abort(SLOT_HANDED_OVER);
      } else {
        this.#gate.release();
      }
    }
    return next;
  }
}
