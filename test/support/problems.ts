// The one check of an error answer the API tests share: status, problem members, and what the detail says.
import { expect } from 'vitest';

/** Asserts `res` is an RFC 9457 problem of `status` whose detail matches `detail`. */
export function expectProblem(res: { status: number; body: unknown }, status: number, detail: RegExp) {
  expect(res.status).toBe(status);
  expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status });
  expect((res.body as { detail?: string }).detail).toMatch(detail);
}
