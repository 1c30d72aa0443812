// Every admin route, from Bull Board's own route table and the app's, refused without the token however spelled.
import { appRoutes } from '@bull-board/api/dist/routes.js';
import { afterAll, describe, expect, it } from 'vitest';
import { BOARD_PATH } from '../../server/admin-surfaces.js';
import { createTestSystem, type TestSystem } from '../support/system.js';

const TOKEN = 'admin-routes-test-token';
const readOnly = createTestSystem({ ADMIN_TOKEN: TOKEN });
const withActions = createTestSystem({ ADMIN_TOKEN: TOKEN, BOARD_ACTIONS: '1' });
const noToken = createTestSystem({ BOARD_ACTIONS: '1' });
afterAll(() => Promise.all([readOnly.close(), withActions.close(), noToken.close()]));

/** What docs/OPERATIONS.md's surfaces table marks public, plus the order API itself; every other route is admin. */
const PUBLIC =
  /^\/(health|ready|metrics|stats|stats\/history|shards|docs|openapi\.json|nodes(\/:node_id)?|orders(\/:order_id(\/(cancel|events))?)?)$/;

interface Route {
  method: string;
  pattern: string;
}

const asList = <T>(value: T | T[]) => (Array.isArray(value) ? value : [value]);
const under = (base: string, route: string) => (route === '/' ? base : `${base}${route}`);

/** Bull Board's route table (pages and API, including every action) as mounted under BOARD_PATH. */
const boardRoutes: Route[] = [appRoutes.entryPoint, ...appRoutes.api].flatMap(({ method, route }) =>
  asList(method).flatMap((m) =>
    asList(route).map((r) => ({ method: m.toUpperCase(), pattern: under(BOARD_PATH, r) })),
  ),
);

/** Both tables, deduplicated: the board's, and every app route that is not public (dashboard, drain, board assets). */
function adminRoutes(system: TestSystem): Route[] {
  const fromApp = system.app.routes
    .filter((r) => r.method !== 'ALL' && !PUBLIC.test(r.path))
    .map((r) => ({ method: r.method, pattern: r.path }));
  const seen = new Set<string>();
  return [...boardRoutes, ...fromApp].filter(({ method, pattern }) => {
    const key = `${method} ${pattern}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A concrete path for a route pattern: a real queue of the system, some job, a real asset. */
function concrete(system: TestSystem, pattern: string): string {
  const values: Record<string, string> = {
    queueName: system.keyspace.shard(3).queueName,
    jobId: '0-01JD3Z9T4S8X5Q2W7E6R1Y0U9K.reserve',
    queueStatus: 'failed',
    schedulerId: 'nightly',
    node_id: 'no-such-node',
    order_id: '0-01JD3Z9T4S8X5Q2W7E6R1Y0U9K',
    name: 'dashboard.js',
  };
  return pattern
    .replace(/:(\w+)/g, (_, name: string) => {
      const value = values[name];
      if (value === undefined) throw new Error(`no test value for :${name} in ${pattern}`);
      return value;
    })
    .replace(/\*$/, 'favicon-32x32.png');
}

const pct = (char: string) => `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
const encodeAt = (path: string, at: number) => `${path.slice(0, at)}${pct(path[at]!)}${path.slice(at + 1)}`;
/** Index of the first character of each path segment. */
const segmentStarts = (path: string) => [...path.matchAll(/(?<=\/)[^/]/g)].map((m) => m.index);

interface Spelling {
  name: string;
  method?: (method: string) => string;
  path: (path: string) => string;
}

/** Other ways to ask for the same route: methods Hono maps onto it and paths a URL parser or router may normalise. */
const spellings: Spelling[] = [
  { name: 'as routed', path: (p) => p },
  { name: 'HEAD', method: () => 'HEAD', path: (p) => p },
  { name: 'trailing slash', path: (p) => `${p}/` },
  { name: 'query and fragment', path: (p) => `${p}?x=1#y` },
  { name: 'first segment percent-encoded', path: (p) => encodeAt(p, 1) },
  { name: 'second segment percent-encoded', path: (p) => encodeAt(p, segmentStarts(p)[1] ?? 1) },
  { name: 'last segment percent-encoded', path: (p) => encodeAt(p, segmentStarts(p).at(-1)!) },
  { name: 'every character percent-encoded', path: (p) => p.replace(/[^/]/g, pct) },
  { name: 'upper-case hex escapes', path: (p) => p.replace(/[^/]/g, (c) => pct(c).toUpperCase()) },
  { name: 'percent-encoded slash', path: (p) => p.replace(/^(\/[^/]+)\//, '$1%2F') },
  { name: 'leading double slash', path: (p) => `/${p}` },
  { name: 'double slash after the first segment', path: (p) => p.replace(/^(\/[^/]+)\//, '$1//') },
  { name: 'double slash before the last segment', path: (p) => p.replace(/\/(?=[^/]+$)/, '//') },
  { name: 'dot segments', path: (p) => `/x/..${p}` },
  { name: 'percent-encoded dot segments', path: (p) => `/x/%2e%2e${p}` },
  { name: 'backslashes', path: (p) => p.replaceAll('/', '\\') },
  { name: 'capitalised', path: (p) => `/${p[1]!.toUpperCase()}${p.slice(2)}` },
  { name: 'upper case', path: (p) => p.toUpperCase() },
];

function send(system: TestSystem, method: string, path: string, authorization?: string) {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  // An absolute URL, so app.request hands the path to the URL parser exactly as a client would send it.
  return system.app.request(`http://localhost${path}`, { method, headers });
}

/** The app's notFound answer: no route (and so no handler) matched this method and path. */
async function isUnrouted(res: Response): Promise<boolean> {
  if (res.status !== 404 || res.headers.get('content-type') !== 'application/problem+json') return false;
  const body = (await res.json()) as { detail?: string };
  return /^no route for /.test(body.detail ?? '');
}

/**
 * Refused means the auth check answered 401. A 404 is acceptable only when nothing is routed
 * there at all: the same request with the right token must get the app's notFound as well
 * (a HEAD is dispatched as GET and has no body, so it is probed as GET).
 */
async function outcome(system: TestSystem, method: string, path: string, authorization?: string) {
  const res = await send(system, method, path, authorization);
  if (res.status === 401) return 'refused';
  if (res.status === 404) {
    const probe = await send(system, method === 'HEAD' ? 'GET' : method, path, `Bearer ${TOKEN}`);
    if (await isUnrouted(probe)) return 'unrouted';
  }
  return `answered ${res.status}`;
}

describe.each([
  { when: 'BOARD_ACTIONS is off', system: readOnly },
  { when: 'BOARD_ACTIONS is on', system: withActions },
])('when $when', ({ system }) => {
  const routes = adminRoutes(system);
  const cases = routes.length * spellings.length;

  it(`covers Bull Board's whole route table and the other admin routes (${routes.length} routes × ${spellings.length} spellings = ${cases} cases)`, () => {
    expect(boardRoutes.length).toBeGreaterThanOrEqual(35);
    const patterns = routes.map((r) => r.pattern);
    expect(patterns).toEqual(expect.arrayContaining(boardRoutes.map((r) => r.pattern)));
    expect(patterns).toEqual(expect.arrayContaining(['/dashboard', '/nodes/:node_id/drain']));
    expect(patterns.every((p) => p.startsWith(BOARD_PATH) || /^\/(dashboard|nodes\/)/.test(p))).toBe(true);
  });

  const table = routes.map(({ method, pattern }) => [method, pattern] as const);

  it.each(table)(
    'refuses %s %s in every spelling, without a token or with a wrong one',
    async (method, pattern) => {
      const path = concrete(system, pattern);
      const leaks: string[] = [];
      for (const spelling of spellings) {
        const m = spelling.method?.(method) ?? method;
        const p = spelling.path(path);
        for (const authorization of [undefined, 'Bearer not-the-token']) {
          const result = await outcome(system, m, p, authorization);
          const who = authorization ? 'wrong token' : 'no token';
          if (result !== 'refused' && result !== 'unrouted')
            leaks.push(`${spelling.name}, ${who}: ${m} ${p} ${result}`);
        }
      }
      expect(leaks).toEqual([]);
    },
  );

  it.each(table)('lets %s %s reach its handler with the token', async (method, pattern) => {
    const res = await send(system, method, concrete(system, pattern), `Bearer ${TOKEN}`);
    expect(res.status).not.toBe(401);
    expect(await isUnrouted(res)).toBe(false);
  });

  it("serves Bull Board's pages and queue list with the token", async () => {
    for (const route of asList(appRoutes.entryPoint.route)) {
      const res = await send(system, 'GET', concrete(system, under(BOARD_PATH, route)), `Bearer ${TOKEN}`);
      expect(res.status, route).toBe(200);
    }
    const res = await send(system, 'GET', `${BOARD_PATH}/api/queues`, `Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { queues: unknown[] }).queues).toHaveLength(12);
  });
});

describe('when the server has no ADMIN_TOKEN (and BOARD_ACTIONS is on)', () => {
  const table = adminRoutes(noToken).map(({ method, pattern }) => [method, pattern] as const);
  it.each(table)('refuses %s %s even with a token, without a challenge', async (method, pattern) => {
    const res = await send(noToken, method, concrete(noToken, pattern), `Bearer ${TOKEN}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBeNull();
  });
});
