// Backpressure: past BACKLOG_LIMIT waiting steps, placement answers 429 with Retry-After and writes nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestSystem, waitFor } from '../support/system.js';

const system = createTestSystem({ BACKLOG_LIMIT: '5' });
afterAll(() => system.close());

describe('when the backlog passes its limit', () => {
  it('answers 429 with Retry-After until the workers catch up', async () => {
    for (let i = 0; i < 6; i++) expect((await system.place({ user_id: `backlog-${i}` })).status).toBe(202);
    await system.backlog.sample();
    expect(system.backlog.total).toBe(6);

    const refused = await system.place({ user_id: 'one-too-many' }, { 'idempotency-key': 'later' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.body.detail).toMatch(/backlog \(6 waiting steps\)/);
    expect((await system.get('/orders?user_id=one-too-many')).body.orders).toEqual([]);

    system.startNode();
    await waitFor(
      async () => {
        await system.backlog.sample();
        return system.backlog.total <= 5 ? true : undefined;
      },
      20_000,
      'the backlog to drain',
    );
    const accepted = await system.place({ user_id: 'one-too-many' }, { 'idempotency-key': 'later' });
    expect(accepted.status).toBe(202);
  });
});
