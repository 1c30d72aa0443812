// The API's error classes: each knows its HTTP status; server/problem.ts maps them to responses.

export interface ApiErrorOptions {
  /** Response headers, such as Retry-After or a WWW-Authenticate challenge. */
  headers?: Record<string, string>;
  /** Extension members of the problem body (RFC 9457). */
  extra?: Record<string, unknown>;
  /** The error this answer stands for, such as the store's: kept for the logs, never shown to the client. */
  cause?: unknown;
}

/** An error a client can act on: its message is shown to the client. */
export class ApiError extends Error {
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;

  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    { headers = {}, extra = {}, cause }: ApiErrorOptions = {},
  ) {
    super(detail, cause === undefined ? undefined : { cause });
    this.name = this.constructor.name;
    this.headers = headers;
    this.extra = extra;
  }
}

export class BadRequestError extends ApiError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super(400, 'Bad Request', detail, { extra });
  }
}

/**
 * 401. With a Basic challenge by default, so a browser asks for the password (and Playwright's
 * httpCredentials answer); API clients send the Bearer token without being asked. Without one
 * (`challenge: false`) when no password could help, so a browser does not ask for one.
 */
export class UnauthorizedError extends ApiError {
  constructor(detail: string, { challenge = true }: { challenge?: boolean } = {}) {
    super(401, 'Unauthorized', detail, {
      headers: challenge ? { 'WWW-Authenticate': 'Basic realm="orderflow admin", charset="UTF-8"' } : {},
    });
  }
}

/** 403: the client is known, and still may not do this (e.g. a request another site could have forged). */
export class ForbiddenError extends ApiError {
  constructor(detail: string) {
    super(403, 'Forbidden', detail);
  }
}

export class NotFoundError extends ApiError {
  constructor(detail: string) {
    super(404, 'Not Found', detail);
  }
}

/** 409: the key (an Idempotency-Key, or a client's `order_id`) is bound to another request body. */
export class IdempotencyConflictError extends ApiError {
  constructor(key = 'this Idempotency-Key') {
    super(409, 'Conflict', `${key} was used with a different request body`);
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
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

export interface StoreUnavailableOptions {
  /** Retry-After, in seconds; 1 by default. */
  retryAfterSeconds?: number;
  /** The key whose retry returns this placement's order: the client's, or one generated for it. */
  idempotencyKey?: string;
  /** The store's own error, for the logs. */
  cause?: unknown;
}

/**
 * The store could not take the request in time; safe to retry (a placement with the same
 * Idempotency-Key). A placement's 503 names that key in an `Idempotency-Key` header and an
 * `idempotency_key` member, since the order may still be stored.
 */
export class StoreUnavailableError extends ApiError {
  constructor(
    detail: string,
    { retryAfterSeconds = 1, idempotencyKey, cause }: StoreUnavailableOptions = {},
  ) {
    const keyed = idempotencyKey !== undefined;
    super(503, 'Service Unavailable', detail, {
      headers: {
        'Retry-After': String(retryAfterSeconds),
        ...(keyed ? { 'Idempotency-Key': idempotencyKey } : {}),
      },
      extra: keyed ? { idempotency_key: idempotencyKey } : {},
      cause,
    });
  }
}

/** 409: the order's state does not allow the request (a cancel of an order already ended). */
export class OrderStateConflictError extends ApiError {
  constructor(detail: string, status: string) {
    super(409, 'Conflict', detail, { extra: { order_status: status } });
  }
}
