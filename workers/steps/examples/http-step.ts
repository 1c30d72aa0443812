// README "Plug in real work": a step whose work is a call to another service over HTTP, with a
// deadline and an idempotency key, and whose undo is a second call. An example, not wired by default.
import { type StepContext, StepFailure, type StepHandler } from '../contract.js';

export interface HttpStepOptions {
  /** The service's endpoint of this step: a POST does it, a POST to `<url>/undo` undoes it. */
  url: string;
  /** Deadline of one call: past it the call is abandoned and the step retried, under the same key. */
  timeoutMs: number;
}

/**
 * The key under which the service applies a call once: the same for every run of this step of this
 * order (a retry after a timeout, a run taken over from a dead node), so a call whose answer was
 * lost is not applied twice. Never the attempt number: that is what changes between those runs.
 */
export const idempotencyKey = (ctx: Pick<StepContext, 'order' | 'step'>, action: 'do' | 'undo') =>
  `${ctx.order.order_id}/${ctx.step}/${action}`;

/** 4xx answers that a later try can change: a timeout, a call in flight with the key, a rate limit. */
const TRANSIENT = new Set([408, 409, 425, 429]);

async function call(ctx: StepContext, url: string, action: 'do' | 'undo', timeoutMs: number): Promise<void> {
  // Either ends the call: the run lost its lock (another run does the step now) or the deadline passed.
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
  const { order } = ctx;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey(ctx, action) },
    body: JSON.stringify({ order_id: order.order_id, user_id: order.user_id, items: order.items }),
    signal,
  });
  const text = (await response.text()).slice(0, 200);
  if (response.ok) return;
  if (response.status < 500 && !TRANSIENT.has(response.status)) {
    // The service refused the order itself, and will again: the step fails and the order rolls back
    // (for an undo: the rollback stops there, for an operator).
    throw new StepFailure(`${ctx.step} refused: ${response.status} ${text}`.trim());
  }
  // A 5xx or a transient 4xx, like a timeout or a reset connection: retried by BullMQ with backoff.
  throw new Error(`${ctx.step}: ${url} answered ${response.status}`);
}

/** The handler of a step done by the service at `url`. */
export function httpStep({ url, timeoutMs }: HttpStepOptions): StepHandler {
  return {
    run: (ctx) => call(ctx, url, 'do', timeoutMs),
    compensate: (ctx) => call(ctx, `${url}/undo`, 'undo', timeoutMs),
  };
}
