// Admin auth: ADMIN_TOKEN as a Bearer token or as the basic-auth password (any user name).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { ForbiddenError, UnauthorizedError } from './errors.js';

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

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const JSON_TYPE = /^application\/(.+\+)?json\b/i;

/** The host of an Origin header, or null for `null` (opaque origins) and anything unparsable. */
function originHost(origin: string): string | null {
  try {
    return new URL(origin).host || null;
  } catch {
    return null;
  }
}

/**
 * Why a state-changing admin request may be forged, or null. A browser sends basic-auth credentials
 * with every request to this host, a form posted by another site included; a Bearer token it never
 * sends by itself. So:
 * - an Origin header (browsers send one with every request that is not a GET or HEAD) must name this
 *   host. Host only, not scheme: behind a TLS-terminating proxy the page is https and the request http;
 * - a POST, the one unsafe method a form or an unpreflighted fetch can send, that carries basic auth
 *   must also be something no form can send: a JSON body or an X-Requested-With header, either of
 *   which makes a browser ask first with a CORS preflight, which this server never grants. That stops
 *   browsers that omit Origin too. PUT, PATCH and DELETE always need that preflight, which is why Bull
 *   Board's own body-less PUTs pass with a matching Origin alone.
 */
function forgeryRisk(c: Context, bearer: boolean): string | null {
  if (SAFE_METHODS.has(c.req.method)) return null;
  const origin = c.req.header('origin');
  if (origin !== undefined && originHost(origin) !== new URL(c.req.url).host) {
    return `cross-site request refused: Origin ${origin} is not this server`;
  }
  if (bearer || c.req.method !== 'POST') return null;
  if (JSON_TYPE.test(c.req.header('content-type') ?? '') || c.req.header('x-requested-with') !== undefined) {
    return null;
  }
  return 'a POST with basic-auth credentials needs Content-Type: application/json or an X-Requested-With header, which a cross-site form cannot send (or use Authorization: Bearer)';
}

/**
 * Middleware guarding admin surfaces: Bull Board, the dashboard, node drains. After the token, it
 * refuses state-changing requests that another site could have forged with the browser's credentials.
 */
export function adminAuth({ token }: AdminAuthOptions): MiddlewareHandler {
  const expected = token ? digest(token) : null;
  return async function requireAdmin(c, next) {
    if (!expected) {
      // No challenge: no password would help, so a browser should not ask for one.
      throw new UnauthorizedError('admin surfaces are disabled: this server has no ADMIN_TOKEN', {
        challenge: false,
      });
    }
    const secret = presentedSecret(c.req.header('authorization'));
    if (secret === null) {
      throw new UnauthorizedError(
        'this admin surface needs the admin token: Authorization: Bearer <token>, or basic auth with it as the password',
      );
    }
    if (!timingSafeEqual(digest(secret), expected)) throw new UnauthorizedError('the admin token is wrong');
    const forged = forgeryRisk(c, /^\s*bearer\s/i.test(c.req.header('authorization') ?? ''));
    if (forged) throw new ForbiddenError(forged);
    await next();
  };
}
