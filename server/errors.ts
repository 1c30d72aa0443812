// The API's error classes: each knows its HTTP status; server/problem.ts maps them to responses.

/** An error a client can act on: its message is shown to the client. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = this.constructor.name;
  }
}

export class BadRequestError extends ApiError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super(400, 'Bad Request', detail, {}, extra);
  }
}

export class NotFoundError extends ApiError {
  constructor(detail: string) {
    super(404, 'Not Found', detail);
  }
}

export class IdempotencyConflictError extends ApiError {
  constructor() {
    super(409, 'Conflict', 'this Idempotency-Key was used with a different request body');
  }
}

export class UnsupportedMediaTypeError extends ApiError {
  constructor(detail: string) {
    super(415, 'Unsupported Media Type', detail);
  }
}

export class BacklogFullError extends ApiError {
  constructor(backlog: number, retryAfterSeconds: number) {
    super(429, 'Too Many Requests', `the backlog (${backlog} waiting steps) is over its limit; retry later`, {
      'Retry-After': String(retryAfterSeconds),
    });
  }
}

/**
 * The store could not take the write in time; safe to retry with the same Idempotency-Key. A
 * placement's 503 names that key (`idempotencyKey`: the client's, or one generated for it) in an
 * `Idempotency-Key` header and an `idempotency_key` member, since the order may still be stored.
 */
export class StoreUnavailableError extends ApiError {
  constructor(detail: string, retryAfterSeconds = 1, idempotencyKey?: string) {
    const keyed = idempotencyKey !== undefined;
    super(
      503,
      'Service Unavailable',
      detail,
      { 'Retry-After': String(retryAfterSeconds), ...(keyed ? { 'Idempotency-Key': idempotencyKey } : {}) },
      keyed ? { idempotency_key: idempotencyKey } : {},
    );
  }
}

export class UnauthorizedError extends ApiError {
  constructor() {
    super(401, 'Unauthorized', 'admin surfaces need the admin token (Bearer, or the basic-auth password)', {
      'WWW-Authenticate': 'Bearer realm="orderflow", Basic realm="orderflow"',
    });
  }
}
