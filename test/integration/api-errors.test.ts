// How the API answers errors it did not expect: a bug is a 500 carrying the request id, answered at
// once; only a store error that is transient is retried, and its 503 says so. Real store, with one
// OrderStore call made to fail the way a bug or a failing-over cluster would: the record's creation,
// whose MULTI is a first placement's only write (docs/adr/0022), and for a retry the key's claim.
import { ReplyError } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../server/errors.js';
import { isRetryable } from '../../server/retryable.js';
import { createApiRuntime } from '../../server/runtime.js';
import { createKeyspace } from '../../shared/keys.js';
import { createOrderStore, type OrderStore } from '../../shared/order-store.js';
import { createStore, StoreTimeoutError } from '../../shared/store.js';
import { deleteNamespace, testConfig } from '../support/system.js';

/**
 * The API wired as server/main.ts wires it, its log lines kept, with some OrderStore calls replaced
 * by `fault`, which gets the real store to call on.
 */
function wireApi(fault: (real: OrderStore) => Partial<OrderStore>) {
  const config = testConfig();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const keyspace = createKeyspace(config.SHARDS, config.KEY_NAMESPACE);
  const store = createStore(config);
  const real = createOrderStore(store, keyspace, config.ORDER_TTL_S);
  const orders: OrderStore = { ...real, ...fault(real) };
  const { app, close } = createApiRuntime(config, { logger, store, keyspace, orders });
  const place = (body: unknown, headers: Record<string, string> = {}) =>
    app.request('/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  return {
    app,
    lines,
    place,
    async close() {
      await close();
      await deleteNamespace(store, config.KEY_NAMESPACE);
      await store.quit();
    },
  };
}

const apis: Array<ReturnType<typeof wireApi>> = [];
const wired = (...args: Parameters<typeof wireApi>) => {
  const api = wireApi(...args);
  apis.push(api);
  return api;
};
afterAll(() => Promise.all(apis.map((api) => api.close())));

describe('when a placement hits a bug (a TypeError in a store call)', () => {
  it('answers 500 problem+json with the request id at once, without retrying', async () => {
    let calls = 0;
    const api = wired(() => ({
      queueCreate: () => {
        calls += 1;
        throw new TypeError("Cannot read properties of undefined (reading 'split')");
      },
    }));
    const started = performance.now();
    const res = await api.place({ user_id: 'buggy-user' }, { 'idempotency-key': 'bug-1' });
    const ms = performance.now() - started;
    const body = (await res.json()) as Record<string, unknown>;

    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    expect(body).toMatchObject({ status: 500, title: 'Internal Server Error', request_id: requestId });
    expect(res.headers.get('retry-after')).toBeNull();
    expect(calls).toBe(1);
    expect(ms).toBeLessThan(1000); // not the 3 s retry budget spent on a bug
    expect(api.lines.filter((l) => l.event === 'placement-retry')).toEqual([]);
    const logged = api.lines.find((l) => l.event === 'request-error');
    expect(logged).toMatchObject({ request_id: requestId, err: { type: 'TypeError' } });
  });
});

describe('when a placement hits a transient store error (the cluster failing over)', () => {
  it('retries it and acknowledges the order', async () => {
    let calls = 0;
    const api = wired((real) => ({
      queueCreate: (...args) => {
        calls += 1;
        if (calls === 1) throw new ReplyError('CLUSTERDOWN The cluster is down');
        return real.queueCreate(...args);
      },
    }));
    const res = await api.place({ user_id: 'failover-user' });
    expect(res.status).toBe(202);
    expect(calls).toBe(2);
    expect(api.lines.filter((l) => l.event === 'placement-retry')).toHaveLength(1);
  });

  it('answers 503 with Retry-After and the Idempotency-Key once the budget is spent', async () => {
    const api = wired(() => ({
      claimIdempotency: () => Promise.reject(new Error('Connection is closed.')),
      queueCreate: () => {
        throw new Error('Connection is closed.');
      },
    }));
    const res = await api.place({ user_id: 'closed-user' }, { 'idempotency-key': 'closed-1' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('idempotency-key')).toBe('closed-1');
    expect(await res.json()).toMatchObject({ status: 503, idempotency_key: 'closed-1' });
  });
});

describe('when a placement with a client order id meets a store that is away', () => {
  it('names the order_id as the key whose retry returns the order', async () => {
    const api = wired(() => ({
      claimClientOrderId: () => Promise.reject(new Error('Connection is closed.')),
      queueCreate: () => {
        throw new Error('Connection is closed.');
      },
    }));
    const res = await api.place({ user_id: 'closed-user', order_id: 'PO-503' });
    expect(res.status).toBe(503);
    expect(res.headers.get('idempotency-key')).toBe('PO-503');
    expect(await res.json()).toMatchObject({ status: 503, idempotency_key: 'PO-503' });
  });
});

describe('when a read hits an error', () => {
  it('answers a bug 500 with the request id, and a lost store connection 503 with Retry-After', async () => {
    const api = wired(() => ({
      readJson: (orderId) =>
        Promise.reject(
          orderId.endsWith('Y1') ? new TypeError('not a function') : new Error('Connection is closed.'),
        ),
    }));
    const bug = await api.app.request('/orders/3-01M80JV79NTQ7XXBSS5QWYK3Y1');
    expect(bug.status).toBe(500);
    expect(await bug.json()).toMatchObject({ status: 500, request_id: bug.headers.get('x-request-id') });
    const away = await api.app.request('/orders/3-01M80JV79NTQ7XXBSS5QWYK3Y2');
    expect(away.status).toBe(503);
    expect(away.headers.get('retry-after')).toBe('1');
    expect(await away.json()).toMatchObject({ status: 503, title: 'Service Unavailable' });
  });
});

describe('isRetryable', () => {
  const execAbort = (...previousErrors: Error[]) =>
    Object.assign(new ReplyError('EXECABORT Transaction discarded because of previous errors.'), {
      previousErrors,
    });
  const errno = (code: string) => Object.assign(new Error(`read ${code}`), { code });

  const transient: Array<[string, unknown]> = [
    ['a store timeout', new StoreTimeoutError('placement', 100)],
    ...['CLUSTERDOWN', 'TRYAGAIN', 'READONLY', 'LOADING', 'MASTERDOWN', 'MOVED 3999 127.0.0.1:7001'].map(
      (reply): [string, unknown] => [reply, new ReplyError(`${reply} ...`)],
    ),
    ['a MULTI refused for a moved slot', execAbort(new ReplyError('MOVED 3999 127.0.0.1:7001'))],
    ['a closed connection', new Error('Connection is closed.')],
    ['a failover of many redirections', new Error('Too many Cluster redirections. Last error: Error: x')],
    ['a reset socket', errno('ECONNRESET')],
  ];
  it.each(transient)('retries %s', (_, error) => {
    expect(isRetryable(error)).toBe(true);
  });

  const lasting: Array<[string, unknown]> = [
    ['a TypeError', new TypeError('x is not a function')],
    ['a plain Error', new Error('BullMQ refused a step job (code -1)')],
    ['an ERR reply', new ReplyError('ERR Error running script')],
    [
      'a WRONGTYPE reply',
      new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
    ],
    ['a MULTI refused for a bad command', execAbort(new ReplyError('ERR unknown command'))],
    ['an answer already made', new StoreUnavailableError('no replica confirmed')],
    ['a store closed by us', new Error('Cluster is ended.')],
    ['a thrown string', 'CLUSTERDOWN'],
  ];
  it.each(lasting)('does not retry %s', (_, error) => {
    expect(isRetryable(error)).toBe(false);
  });
});

describe('the request log', () => {
  it('names the order of a 202, first placement and replay alike', async () => {
    const api = wired(() => ({}));
    const first = await api.place({ user_id: 'logged-user' }, { 'idempotency-key': 'log-1' });
    const replay = await api.place({ user_id: 'logged-user' }, { 'idempotency-key': 'log-1' });
    const { order_id } = (await first.json()) as { order_id: string };
    expect([first.status, replay.status]).toEqual([202, 202]);
    const requests = api.lines.filter((l) => l.event === 'request');
    expect(requests).toEqual([
      expect.objectContaining({ method: 'POST', path: '/orders', status: 202, order_id }),
      expect.objectContaining({ method: 'POST', path: '/orders', status: 202, order_id }),
    ]);
    expect(requests.map((l) => l.request_id)).toEqual([
      first.headers.get('x-request-id'),
      replay.headers.get('x-request-id'),
    ]);
  });

  it('names no order for a refused placement', async () => {
    const api = wired(() => ({}));
    const res = await api.place({ user_id: '' });
    expect(res.status).toBe(400);
    const line = api.lines.find((l) => l.event === 'request');
    expect(line).toMatchObject({ status: 400 });
    expect(line).not.toHaveProperty('order_id');
  });
});
