// Which errors are worth another try: the store's transient failures, and nothing else. The one
// classification of the API: placement retries these within its budget, and the error mapping answers
// them 503 + Retry-After; any other error is a bug or a refusal, which the same request would meet again.
import { ReplyError } from 'ioredis';
import { StoreTimeoutError } from '../shared/store.js';

/**
 * Replies of a cluster in transition: failing over (CLUSTERDOWN, MASTERDOWN, READONLY from a demoted
 * master), moving slots (MOVED, ASK, TRYAGAIN; MOVED reaches us from a command sent to one node
 * directly, such as the replica fence) or starting (LOADING). The same command succeeds once the
 * cluster settles. Any other reply (ERR, WRONGTYPE, a script's error) would come back the same.
 */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|TRYAGAIN|READONLY|LOADING|MASTERDOWN|MOVED|ASK)\b/;

/**
 * A MULTI refused because a queued command was: transient when every such command's reply was. ioredis
 * hands those replies over as `previousErrors`.
 */
const EXEC_ABORT = /^EXECABORT\b/;

/**
 * ioredis's messages for a connection closed, lost or not yet made, and for a cluster that could not
 * route a command (no slot map, too many redirections during a failover). It throws plain Errors for
 * them, so the message is all there is to tell them by. "Cluster is ended" is not here: that is our
 * own quit, and no retry can succeed after it.
 */
const CONNECTION_LOST = new RegExp(
  '^(' +
    [
      'Connection is closed',
      'Connection is aborted',
      'Connection is discarded',
      'Command aborted due to connection close',
      'Cluster is disconnect', // -ed, -ing
      "Cluster isn't ready",
      'Node is disconnected',
      'None of startup nodes is available',
      'Failed to refresh slots cache',
      'Too many Cluster redirections',
      "Stream isn't writeable",
      'Socket timeout',
      'Command timed out',
      'connect ETIMEDOUT',
      'Ready check failed',
    ].join('|') +
    ')',
);

/** Socket errors: the store, or the way to it, is down for now. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * The placement's key was bound to another order between its claim and its write: a failover lost
 * the claim and another request bound the key since. The write created nothing; the next attempt
 * reads the binding that stands.
 */
export class KeyReboundError extends Error {
  constructor() {
    super('the idempotency key was bound to another order while this placement was writing');
    this.name = this.constructor.name;
  }
}

/**
 * Whether `error` is a transient store failure: the store timed out (StoreTimeoutError, from a
 * withTimeout), its connection is lost, or its cluster is in transition. Anything else is not: a
 * TypeError is a bug, an ApiError an answer, and retrying either only hides it behind a later 503.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof StoreTimeoutError || error instanceof KeyReboundError) return true;
  if (!(error instanceof Error)) return false;
  if (error instanceof ReplyError) {
    if (TRANSIENT_REPLY.test(error.message)) return true;
    const previous = (error as { previousErrors?: unknown[] }).previousErrors ?? [];
    return EXEC_ABORT.test(error.message) && previous.length > 0 && previous.every(isRetryable);
  }
  const code = (error as NodeJS.ErrnoException).code;
  return (code !== undefined && SOCKET_CODES.has(code)) || CONNECTION_LOST.test(error.message);
}
