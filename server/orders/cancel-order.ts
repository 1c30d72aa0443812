// POST /orders/:id/cancel: stores the request beside the record, or cancels an order not started.
import type { Queue } from 'bullmq';
import { cancelOutcome, planCancel } from '../../shared/domain/cancel-plan.js';
import type { CancelRequest, OrderRecord, StepName } from '../../shared/domain/order.js';
import { cancelRequestedEvent, eventsBetween } from '../../shared/domain/order-events.js';
import { cancelOrder } from '../../shared/domain/transitions.js';
import type { Logger } from '../../shared/logger.js';
import { stepJobId } from '../../shared/order-id.js';
import type { OrderStore } from '../../shared/order-store.js';
import { NotFoundError, OrderStateConflictError, StoreUnavailableError } from '../errors.js';
import type { CancelStore } from './cancel-store.js';

export interface CancellationDeps {
  orders: Pick<OrderStore, 'read'>;
  cancels: CancelStore;
  /** One BullMQ Queue per shard, index = shard: to remove the chain of an order cancelled at once. */
  queues: readonly Queue[];
  logger: Logger;
  /** An order ended `cancelled` here (it had not started): for the activity counts. */
  onCancelledAtOnce?: (order: OrderRecord) => void;
  now?: () => Date;
}

/** What the cancel answers, the same for every repeat: the request, and where the order is. */
export interface CancelAnswer {
  httpStatus: 200 | 202;
  body: {
    order_id: string;
    status: OrderRecord['status'];
    outcome: ReturnType<typeof cancelOutcome>;
    /** As in the record; `step`, `stopped_at` and `node_id` null while no run has taken it in. */
    cancellation: CancelRequest & {
      step: StepName | null;
      stopped_at: string | null;
      node_id: string | null;
    };
    links: { self: string; events: string };
  };
}

export interface CancelInput {
  reason?: string;
  requested_by?: string;
}

/** Orders whose version moved under a cancel this many times in a row get a 503: retry. */
const MAX_ROUNDS = 10;

function answerOf(order: OrderRecord, request: CancelRequest): CancelAnswer {
  const outcome = cancelOutcome(order);
  const self = `/orders/${order.order_id}`;
  const cancellation = order.cancellation ?? { ...request, step: null, stopped_at: null, node_id: null };
  return {
    httpStatus: outcome === 'cancelling' ? 202 : 200,
    body: {
      order_id: order.order_id,
      status: order.status,
      outcome,
      cancellation,
      links: { self, events: `${self}/events` },
    },
  };
}

/** The cancel service of the API. */
export function createCancellation({
  orders,
  cancels,
  queues,
  logger,
  onCancelledAtOnce,
  now = () => new Date(),
}: CancellationDeps) {
  /** Removes the chain of an order cancelled at once; a job a worker holds ends itself (it reads `cancelled`). */
  async function removeChain(order: OrderRecord): Promise<void> {
    const root = stepJobId(order.order_id, 'post-processing');
    const removed = await queues[order.shard]!.remove(root, { removeChildren: true }).catch(
      (error: unknown) => {
        logger.warn({ event: 'chain-remove-failed', order_id: order.order_id, err: error });
        return 0;
      },
    );
    logger.info({
      event: 'order-cancelled',
      order_id: order.order_id,
      shard: order.shard,
      chain_removed: removed === 1,
    });
  }

  return {
    /** Cancels `orderId` (a generated id) or answers where its cancel stands; throws 404, 409 or 503. */
    async cancel(orderId: string, input: CancelInput): Promise<CancelAnswer> {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const current = await orders.read(orderId);
        if (!current) throw new NotFoundError(`no order ${orderId}`);
        const plan = planCancel(current.order, current.cancelRequest);
        if (plan.kind === 'refuse') throw new OrderStateConflictError(plan.reason, current.order.status);
        if (plan.kind === 'replay') return answerOf(current.order, plan.request);
        const at = now();
        const request: CancelRequest = {
          requested_at: at.toISOString(),
          reason: input.reason ?? null,
          requested_by: input.requested_by ?? null,
        };
        const events = [cancelRequestedEvent(current.order, request)];
        const cancelled =
          plan.kind === 'at-once'
            ? cancelOrder(current.order, request, { step: null, nodeId: null }, at)
            : null;
        if (cancelled) events.push(...eventsBetween(current.order, cancelled));
        const written = await cancels.write(current.order, current.version, request, cancelled, events);
        if (written.outcome === 'missing') throw new NotFoundError(`no order ${orderId}`);
        if (written.outcome !== 'written') continue; // moved, or another cancel came first: read again
        logger.info({
          event: 'cancel-requested',
          order_id: orderId,
          plan: plan.kind,
          requested_by: request.requested_by,
        });
        if (!cancelled) return answerOf(current.order, request);
        await removeChain(cancelled);
        onCancelledAtOnce?.(cancelled);
        return answerOf(cancelled, request);
      }
      throw new StoreUnavailableError(`order ${orderId} kept changing under the cancel; retry`);
    },
  };
}

export type Cancellation = ReturnType<typeof createCancellation>;
