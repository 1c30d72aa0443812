// The one place that turns errors into RFC 9457 application/problem+json responses.
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import type { Logger } from '../shared/logger.js';
import { StoreTimeoutError } from '../shared/store.js';
import { ApiError, StoreUnavailableError } from './errors.js';
import { isRetryable } from './retryable.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

/** A problem+json response. */
export function problemResponse(
  c: Context,
  problem: Problem,
  headers: Record<string, string> = {},
): Response {
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, {
    ...headers,
    'Content-Type': 'application/problem+json',
  });
}

function describeIssue(issue: ZodError['issues'][number]): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return 'is required';
  return issue.message;
}

/** The readable summary of a zod error, and its issues as an extension member. */
export function validationProblem(error: ZodError, where: string): Problem {
  const errors = error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || (where === 'json' ? 'body' : where),
    message: describeIssue(issue),
  }));
  return {
    type: 'urn:orderflow:problem:validation',
    title: 'Bad Request',
    status: 400,
    detail: errors.map((e) => `${e.path}: ${e.message}`).join('; '),
    errors,
  };
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
};

/** The client's detail of a transient store failure: a timeout says what timed out, others only that the store is away. */
const storeDetail = (error: unknown) =>
  error instanceof StoreTimeoutError ? error.message : 'the store is unavailable for now; retry later';

/**
 * The one mapping of thrown errors to responses:
 * - an ApiError, and a Hono HTTPException under 500 (a body Hono could not read), as they are;
 * - a transient store failure (server/retryable.ts: a timeout, a lost connection, a cluster failing
 *   over) as 503 with Retry-After: the same request may well succeed in a moment;
 * - anything else is a bug, and only that is a 500: logged with the request id, which the problem
 *   carries too, so that a client's report leads to the log line. Its message stays in the log.
 */
export function createErrorHandler(logger: Logger): ErrorHandler {
  return function problemHandler(thrown, c) {
    let error = thrown;
    if (isRetryable(thrown)) {
      logger.warn({ event: 'store-unavailable', request_id: c.get('requestId'), err: thrown });
      error = new StoreUnavailableError(storeDetail(thrown), { cause: thrown });
    }
    if (error instanceof ApiError) {
      const problem = {
        type: 'about:blank',
        title: error.title,
        status: error.status,
        detail: error.message,
      };
      return problemResponse(c, { ...problem, ...error.extra }, error.headers);
    }
    if (error instanceof HTTPException && error.status < 500) {
      const title = titles[error.status] ?? 'Bad Request';
      return problemResponse(c, {
        type: 'about:blank',
        title,
        status: error.status,
        detail: error.message || title,
      });
    }
    const requestId = c.get('requestId');
    logger.error({ event: 'request-error', request_id: requestId, err: error });
    return problemResponse(c, {
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'the server failed to handle the request; it has been logged',
      request_id: requestId,
    });
  };
}

/** 404 for every route that does not exist. */
export const notFound: NotFoundHandler = (c) =>
  problemResponse(c, {
    type: 'about:blank',
    title: 'Not Found',
    status: 404,
    detail: `no route for ${c.req.method} ${c.req.path}`,
  });
