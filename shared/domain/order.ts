// The order record: its shape, its states and the step sequence. Pure data, no I/O.

export const STEPS = ['scheduling', 'pre-processing', 'processing', 'post-processing'] as const;
export type StepName = (typeof STEPS)[number];

export const ORDER_STATUSES = [
  'accepted',
  'in_progress',
  'rolling_back',
  'completed',
  'failed',
  'cancelled',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
/** Where an order is: the step it is at, or how it ended. */
export const CURRENT_STEPS = [...STEPS, 'completed', 'failed', 'cancelled'] as const;
export type CurrentStep = (typeof CURRENT_STEPS)[number];
/** `cancelled`: the order was cancelled while the step ran; its run stopped, nothing of it committed. */
export const STEP_STATUSES = [
  'pending',
  'running',
  'completed',
  'failed',
  'compensated',
  'cancelled',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];
/**
 * `abandoned`: its node died or lost the lock; `error`: an infrastructure error, retried;
 * `cancelled`: stopped because the order was cancelled.
 */
export const ATTEMPT_OUTCOMES = [
  'running',
  'completed',
  'failed',
  'abandoned',
  'error',
  'cancelled',
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export interface Attempt {
  node_id: string;
  started_at: string;
  ended_at: string | null;
  outcome: AttemptOutcome;
}

export interface StepRecord {
  name: StepName;
  status: StepStatus;
  started_at: string | null;
  completed_at: string | null;
  node_id: string | null;
  attempts: Attempt[];
}

export interface RollbackEntry {
  step: StepName;
  started_at: string;
  completed_at: string | null;
  node_id: string;
  /**
   * Every run of this undo, as a step's attempts: a resumed undo ends the dead node's run as
   * `abandoned`, which is what the rollback's crash limit counts. Absent on entries written before.
   */
  attempts?: Attempt[];
}

/** A rollback given up before its end (its nodes kept dying): what was left undone, and why. */
export interface RollbackFailure {
  /** The undo that was open (or next) when the rollback stopped. */
  step: StepName;
  reason: string;
  /** The steps still in effect, in the order the rollback would have undone them. */
  not_compensated: StepName[];
}

/** Who asked to cancel an order, when and why: stored beside the record until a run takes it in. */
export interface CancelRequest {
  requested_at: string;
  reason: string | null;
  requested_by: string | null;
}

/** A cancellation the record has taken in: the request, and where and by whom it stopped the order. */
export interface Cancellation extends CancelRequest {
  /** The step it stopped at (its run ended, or it never started); null when no step had started. */
  step: StepName | null;
  /** When the order stopped going forward; the rollback, if any, follows. */
  stopped_at: string;
  /** The node whose run stopped it, or null when the API cancelled an order that had not started. */
  node_id: string | null;
}

/** One line of an order, in the one shape it is stored in whatever spelling the client sent. */
export interface OrderItem {
  sku: string;
  qty: number;
  /** In the order's currency, to the cent; absent when the client sent no price. */
  unit_price?: number;
}

/** How to reach the customer; a field the client did not send is null. */
export interface Customer {
  name: string | null;
  email: string | null;
  phone: string | null;
}

export interface OrderRecord {
  order_id: string;
  user_id: string;
  shard: number;
  status: OrderStatus;
  current_step: CurrentStep;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  items: OrderItem[];
  customer_name: string | null;
  region: string | null;
  // The five below are absent on records placed before they existed (issue 15); null when not sent.
  /** The client's own id of the order (`order_id` of the request), unique per user. */
  client_order_id?: string | null;
  customer?: Customer | null;
  /** ISO 4217, upper case. */
  currency?: string | null;
  total?: number | null;
  /** The client's flat string map, as sent. */
  metadata?: Record<string, string> | null;
  steps: StepRecord[];
  failure: { step: StepName; reason: string } | null;
  rollback: RollbackEntry[];
  /** Only on an order whose rollback was given up: it ended `failed` with steps not compensated. */
  rollback_failure?: RollbackFailure;
  /** Only on a cancelled order (issue 15): it ends `cancelled` once its completed steps are undone. */
  cancellation?: Cancellation;
}

/**
 * What a customer asks for, normalised from whichever spelling the client sent (server/order-request.ts);
 * the rest of the record is the system's. Contact details are flat here, as `customer_name` always
 * was, so a body of the original shape normalises to the very object it was before.
 */
export interface OrderRequest {
  user_id: string;
  /** The client's own id of the order: unique per user, and the request's idempotency key. */
  client_order_id?: string;
  items?: OrderItem[];
  customer_name?: string;
  email?: string;
  phone?: string;
  region?: string;
  currency?: string;
  total?: number;
  metadata?: Record<string, string>;
}

/** The customer of a request, or null when it names none of name, email and phone. */
function customerOf({ customer_name, email, phone }: OrderRequest): Customer | null {
  if (customer_name === undefined && email === undefined && phone === undefined) return null;
  return { name: customer_name ?? null, email: email ?? null, phone: phone ?? null };
}

export const isTerminal = (status: OrderStatus) =>
  status === 'completed' || status === 'failed' || status === 'cancelled';

export function isStepName(name: string): name is StepName {
  return (STEPS as readonly string[]).includes(name);
}

/** The record of a just-placed order: every step pending. */
export function newOrder(orderId: string, shard: number, request: OrderRequest, now: Date): OrderRecord {
  return {
    order_id: orderId,
    user_id: request.user_id,
    shard,
    status: 'accepted',
    current_step: STEPS[0],
    created_at: now.toISOString(),
    started_at: null,
    completed_at: null,
    items: request.items ?? [],
    customer_name: request.customer_name ?? null,
    region: request.region ?? null,
    client_order_id: request.client_order_id ?? null,
    customer: customerOf(request),
    currency: request.currency ?? null,
    total: request.total ?? null,
    metadata: request.metadata ?? null,
    steps: STEPS.map((name) => ({
      name,
      status: 'pending',
      started_at: null,
      completed_at: null,
      node_id: null,
      attempts: [],
    })),
    failure: null,
    rollback: [],
  };
}

/**
 * A deep copy of a record, for transitions to change without touching their input. Written out
 * for the record's shape: structuredClone, general-purpose, was the costliest part of a step's
 * own CPU at STEP_MS=0 (two clones per step).
 */
export function cloneOrder(order: OrderRecord): OrderRecord {
  return {
    ...order,
    items: order.items.map((item) => ({ ...item })),
    ...(order.customer && { customer: { ...order.customer } }),
    ...(order.metadata && { metadata: { ...order.metadata } }),
    steps: order.steps.map((step) => ({
      ...step,
      attempts: step.attempts.map((attempt) => ({ ...attempt })),
    })),
    failure: order.failure ? { ...order.failure } : null,
    rollback: order.rollback.map((entry) =>
      entry.attempts ? { ...entry, attempts: entry.attempts.map((a) => ({ ...a })) } : { ...entry },
    ),
    ...(order.cancellation && { cancellation: { ...order.cancellation } }),
    ...(order.rollback_failure && {
      rollback_failure: {
        ...order.rollback_failure,
        not_compensated: [...order.rollback_failure.not_compensated],
      },
    }),
  };
}
