// The one router factory of the API's route files, so every zod-validated route answers a bad request alike.
import { OpenAPIHono } from '@hono/zod-openapi';
import { problemResponse, validationProblem } from './problem.js';

/**
 * A router whose routes answer a request that fails their zod schemas (params, query, headers, body)
 * with 400 application/problem+json listing every issue, instead of the library's default JSON.
 */
export function createRouter(): OpenAPIHono {
  return new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return problemResponse(c, validationProblem(result.error, result.target));
    },
  });
}
