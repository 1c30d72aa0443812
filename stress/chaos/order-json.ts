// The order JSON as GET /orders/:id documents it (CONTRACT.md), typed here by the checker itself:
// the checker shares no code with the paths it checks, so a wrong type there cannot hide a bug here.

export interface AttemptJson {
  node_id: string;
  started_at: string | null;
  ended_at: string | null;
  outcome: string;
}

export interface StepJson {
  name: string;
  status: string;
  started_at: string | null;
  completed_at: string | null;
  node_id: string | null;
  attempts: AttemptJson[];
}

export interface RollbackJson {
  step: string;
  started_at: string | null;
  completed_at: string | null;
  node_id: string;
}

export interface OrderJson {
  order_id: string;
  user_id: string;
  status: string;
  current_step: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  steps: StepJson[];
  failure: { step: string; reason: string } | null;
  rollback: RollbackJson[];
}

/** The four steps, in the order they run (CONTRACT.md). */
export const STEP_ORDER = ['scheduling', 'pre-processing', 'processing', 'post-processing'];

/** `cancelled` is not in the product yet; when it comes, it ends an order like the other two. */
export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** Attempts whose outcome the record committed: the step ran to its end there. */
export const COMMITTED = new Set(['completed', 'failed']);
