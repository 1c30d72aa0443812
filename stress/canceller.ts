// Cancels a share of the placed orders at random moments of their run: `--cancel-rate P`.

export interface CancellerOptions {
  url: string;
  /** The share of orders to cancel, 0 to 1. */
  rate: number;
  /** Cancels fall uniformly in the first 4 × STEP_MS after the acknowledgement: any step, or none yet. */
  stepMs: number;
  random?: () => number;
}

/** What the cancels got: the orders asked, and the answers by status (409: ended first). */
export interface CancelStats {
  asked: number;
  answers: Record<string, number>;
  /** The ids of the orders asked, with the status of their answer. */
  byOrder: Map<string, number>;
}

/** A canceller: `consider` each acknowledged order, `drain` once placement has ended. */
export function createCanceller({ url, rate, stepMs, random = Math.random }: CancellerOptions) {
  const stats: CancelStats = { asked: 0, answers: {}, byOrder: new Map() };
  const pending = new Set<Promise<void>>();

  async function cancel(orderId: string): Promise<void> {
    let status = 0;
    try {
      const res = await fetch(`${url}/orders/${encodeURIComponent(orderId)}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'stress --cancel-rate', requested_by: 'stress' }),
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = 0;
    }
    stats.byOrder.set(orderId, status);
    stats.answers[String(status)] = (stats.answers[String(status)] ?? 0) + 1;
  }

  return {
    stats,
    /** Cancels `orderId` later, with probability `rate`. */
    consider(orderId: string): void {
      if (rate <= 0 || random() >= rate) return;
      stats.asked++;
      const delay = random() * 4 * stepMs;
      const done: Promise<void> = new Promise<void>((resolve) => setTimeout(resolve, delay))
        .then(() => cancel(orderId))
        .finally(() => pending.delete(done));
      pending.add(done);
    },
    /** Resolves once every cancel scheduled has been answered. */
    async drain(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}

export type Canceller = ReturnType<typeof createCanceller>;
