// The fenced writes of one run of a step: resends of lost replies, lost locks, the node's record cache.
import type { CancelRequest, OrderRecord, StepName } from '../shared/domain/order.js';
import type { Logger } from '../shared/logger.js';
import type { FoldedWrite, OrderStore, VersionedOrder } from '../shared/order-store.js';
import type { CompletionMove } from './completion-move.js';

/** The run is no longer this node's to go on with: nothing more of it is written or retried. */
export class RunEndedError extends Error {}

/** This run no longer holds the step's lock: another run owns the order now, so this one stops. */
export class LockLostError extends RunEndedError {
  /** How the run learnt it: the fence's refusal (`lock-lost`, `conflict`) or `renewal-failed`. */
  constructor(
    jobId: string,
    readonly outcome: string,
  ) {
    super(`lost the lock of ${jobId} (${outcome}); run abandoned without writing`);
    this.name = this.constructor.name;
  }
}

/** A record taken from this node's cache was older than the store's: read it again and start over. */
export class StaleRecordError extends RunEndedError {}

/**
 * The order is to be cancelled: a forward write was refused for it, or the node's cancel watch saw
 * the request while the step's handler ran. The run stops going forward and cancels the order.
 */
export class CancelRequestedError extends RunEndedError {
  constructor(readonly request: CancelRequest | null) {
    super('the order is to be cancelled');
    this.name = this.constructor.name;
  }
}

/**
 * The records this node wrote last, by order id: the next step of an order usually runs on the node
 * that completed the previous one (the slot passes to it), which then starts from the record it
 * wrote instead of reading it back. Safe because every write is fenced by version: a stale copy
 * makes the first write a conflict, and the run reads the record and starts over.
 */
export function createRecentRecords(limit: number) {
  const records = new Map<string, VersionedOrder>();
  return {
    /** Removes and returns the copy of `orderId`, if any. */
    take(orderId: string): VersionedOrder | undefined {
      const found = records.get(orderId);
      if (found) records.delete(orderId);
      return found;
    },
    remember(written: VersionedOrder): void {
      const { order } = written;
      records.delete(order.order_id);
      if (order.status === 'completed' || order.status === 'failed') return;
      records.set(order.order_id, written);
      if (records.size > limit) records.delete(records.keys().next().value!);
    },
  };
}

export type RecentRecords = ReturnType<typeof createRecentRecords>;

/** A completion write folded into BullMQ's move of the job: `result` is the job's result, as JSON. */
export interface Fold {
  move: CompletionMove;
  result: string;
}

export interface RunWriterOptions {
  /** With `completeWithMove`, a write given a `fold` commits with BullMQ's move of the job. */
  orders: Pick<OrderStore, 'fencedWrite'> & Partial<Pick<OrderStore, 'completeWithMove'>>;
  jobId: string;
  token: string;
  step: StepName;
  log: Logger;
  /** A write was refused: the lock is gone. Called before the write throws, to stop the run's handler. */
  lockLost?: (step: StepName, error: LockLostError) => void;
  recent: RecentRecords;
  /** The waits before each resend of a write whose reply was lost; past them its error is the run's. */
  resendDelaysMs: readonly number[];
  /** The record the run starts from, and whether it is this node's cached copy of it. */
  start: VersionedOrder;
  fromCache: boolean;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The writer of one run: every write fenced by the run's lock token and the version it read. */
export function createRunWriter(options: RunWriterOptions) {
  const { orders, jobId, token, step, log, recent } = options;
  let latest = options.start;
  let fromCache = options.fromCache;
  // A write whose every send failed may still have landed: the record's version is then unknown.
  let unsure = false;

  /**
   * Sends a write until the store answers. A send that failed on the wire may have landed; its
   * resend is the same write (same token, same document, same id), which the script then answers
   * `already-written`, or `lock-lost` if the lock moved meanwhile: the fence holds either way.
   */
  async function send(
    current: VersionedOrder,
    next: OrderRecord,
    forward: boolean,
    fold: Fold | undefined,
  ): Promise<FoldedWrite> {
    // BullMQ's arguments once: a resend is the same move (same timestamp), so the fold knows it.
    const move = fold?.move.args(fold.result);
    for (let resends = 0; ; resends++) {
      try {
        if (!move) return await orders.fencedWrite(jobId, token, current, next, { forward });
        return await orders.completeWithMove!(token, current, next, move);
      } catch (error) {
        const delay = options.resendDelaysMs[resends];
        if (delay === undefined) {
          unsure = true;
          throw error;
        }
        log.warn({ event: 'write-resent', resend: resends + 1, err: error });
        await wait(delay);
      }
    }
  }

  /**
   * Writes `next` over `current`; throws LockLostError when the fence refuses it. A `forward` write
   * (a step's start or completion) throws CancelRequestedError instead while a cancel request waits.
   * With `fold` (a completion), the write commits with BullMQ's move of the job to completed, which
   * the Worker then does not make again.
   */
  async function write(
    current: VersionedOrder,
    next: OrderRecord,
    { forward = false, fold }: { forward?: boolean; fold?: Fold } = {},
  ): Promise<VersionedOrder> {
    // Folded only where the store can: the unit tests' fake store writes the completion alone.
    const folding = orders.completeWithMove ? fold : undefined;
    const result = await send(current, next, forward, folding);
    if (result.written) {
      if (result.outcome === 'already-written') log.info({ event: 'write-already-landed' });
      // Landed with the move: the next job it fetched is handed to the Worker. Landed earlier, its
      // reply lost: that job, if any, is left to the stalled check (docs/adr/0023).
      folding?.move.landed(result.moved ?? 0);
      fromCache = false;
      latest = result.written;
      recent.remember(result.written);
      return result.written;
    }
    if (result.outcome === 'cancel-requested') {
      log.info({ event: 'cancel-seen', at: 'write' });
      throw new CancelRequestedError(result.request);
    }
    if (fromCache && result.outcome === 'conflict') {
      log.debug({ event: 'cached-record-stale' });
      throw new StaleRecordError();
    }
    const lost = new LockLostError(jobId, result.outcome);
    log.warn(
      { event: 'lock-lost', outcome: result.outcome, bullmq_code: result.refused },
      'fenced write refused: lock lost, abandoning run',
    );
    options.lockLost?.(step, lost);
    throw lost;
  }

  return {
    write,
    /**
     * After an infrastructure error: writes `errored(latest)` over the latest record this run
     * wrote (not the one it started from, which a rollback has moved past: writing over it would
     * be refused as if the lock were lost). Nothing when `errored` has nothing to end, or when a
     * write's outcome is unknown; a refusal here is the run's end anyway and is not rethrown.
     */
    async recordError(errored: (order: OrderRecord) => OrderRecord | null): Promise<void> {
      const next = unsure ? null : errored(latest.order);
      if (next) await write(latest, next).catch(() => undefined);
    },
  };
}

export type RunWriter = ReturnType<typeof createRunWriter>;
