// Admin auth: ADMIN_TOKEN as a Bearer token or as the basic-auth password (any user name).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.js';

/**
 * 401 with a Basic challenge first, so a browser asks for the password (and Playwright's
 * httpCredentials answer); API clients send the Bearer token without being asked.
 */
export class AdminAuthError extends ApiError {
  constructor(detail: string, challenge = true) {
    super(
      401,
      'Unauthorized',
      detail,
      challenge ? { 'WWW-Authenticate': 'Basic realm="orderflow admin", charset="UTF-8"' } : {},
    );
  }
}

// Hashing first gives both sides one length, so the comparison time says nothing about the token.
const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** The secret a request presents: the Bearer token, or the password of Basic credentials. */
export function presentedSecret(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const [scheme, value = ''] = authorization.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme ?? '')) return value || null;
  if (/^basic$/i.test(scheme ?? '')) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? null : decoded.slice(colon + 1) || null;
  }
  return null;
}

export interface AdminAuthOptions {
  /** ADMIN_TOKEN; without one every admin request is refused. */
  token: string | undefined;
}

/** Middleware guarding admin surfaces: Bull Board, the dashboard, node drains. */
export function adminAuth({ token }: AdminAuthOptions): MiddlewareHandler {
  const expected = token ? digest(token) : null;
  return async function requireAdmin(c, next) {
    if (!expected) {
      // No challenge: no password would help, so a browser should not ask for one.
      throw new AdminAuthError('admin surfaces are disabled: this server has no ADMIN_TOKEN', false);
    }
    const secret = presentedSecret(c.req.header('authorization'));
    if (secret === null) {
      throw new AdminAuthError(
        'this admin surface needs the admin token: Authorization: Bearer <token>, or basic auth with it as the password',
      );
    }
    if (!timingSafeEqual(digest(secret), expected)) throw new AdminAuthError('the admin token is wrong');
    await next();
  };
}
