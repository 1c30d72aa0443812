// The event stream of an order on the real cluster: read through a second API runtime on the same
// store, resumed with Last-Event-ID, sent whole for an ended order, and bounded per process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEPS, type StepName } from '../../shared/domain/order.js';
import { readSse, type SseMessage } from '../../stress/sse-reader.js';
import type { StepContext } from '../../workers/steps/contract.js';
import { scriptedHandlers } from '../support/step-handlers.js';
import { createTestSystem, type TestSystem, waitFor } from '../support/system.js';

/** Steps of users listed here block until the test releases them. */
const holds = new Map<string, { step: StepName; entered: () => void; release: Promise<void> }>();
function hold(user: string, step: StepName) {
  let entered!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => {
    entered = r;
  });
  holds.set(user, { step, entered, release: new Promise<void>((r) => (release = r)) });
  return { reached, release };
}
async function run(ctx: StepContext) {
  const found = holds.get(ctx.order.user_id);
  if (found?.step !== ctx.step) return;
  found.entered();
  const aborted = new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()));
  await Promise.race([found.release, aborted]);
  ctx.signal.throwIfAborted();
}

const system = createTestSystem({ SSE_POLL_MS: '50' });
/** Another API process's runtime on the same store and namespace: it serves the streams. */
let other: TestSystem;
beforeAll(() => {
  other = createTestSystem({
    KEY_NAMESPACE: system.config.KEY_NAMESPACE,
    SSE_POLL_MS: '50',
    SSE_MAX_STREAMS: '2',
  });
  system.startNode({}, { handlers: scriptedHandlers({ run }) });
});
afterAll(async () => {
  await system.close();
  await other.close();
});

/** Opens the stream on `sys`; `messages` fills as events come, `ended` resolves when the server closed it. */
async function watch(sys: TestSystem, orderId: string, headers: Record<string, string> = {}) {
  const res = await sys.app.request(`/orders/${orderId}/events`, { headers });
  const messages: SseMessage[] = [];
  const stop = new AbortController();
  const ended = res.body ? readSse(res.body, (m) => void messages.push(m), stop.signal) : Promise.resolve();
  return { res, messages, ended, close: () => stop.abort() };
}

const types = (messages: SseMessage[]) =>
  messages.map((m) => {
    const data = JSON.parse(m.data) as { step?: string };
    return data.step ? `${m.event} ${data.step}` : m.event;
  });

const completedRun = STEPS.flatMap((s) => [`step-started ${s}`, `step-completed ${s}`]);

describe('an order watched through another API runtime', () => {
  it('sees every change from the store, in order, each with an id, and the stream closes after the end', async () => {
    const held = hold('watched', 'processing');
    const placed = await system.place({ user_id: 'watched' });
    const orderId = placed.body.order_id as string;
    const stream = await watch(other, orderId);
    expect(stream.res.status).toBe(200);
    expect(stream.res.headers.get('content-type')).toMatch(/text\/event-stream/);
    await held.reached;
    await waitFor(async () => (stream.messages.length >= 5 ? true : undefined), 5000, 'five events');
    expect(types(stream.messages)).toEqual(completedRun.slice(0, 5));
    held.release();
    await stream.ended;
    expect(types(stream.messages)).toEqual([...completedRun, 'order-completed']);
    const ids = stream.messages.map((m) => m.id);
    expect(ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(JSON.parse(stream.messages.at(-1)!.data)).toMatchObject({
      order_id: orderId,
      status: 'completed',
    });
  });

  it('resumes after Last-Event-ID without a gap or a repeat, live and after the end', async () => {
    const held = hold('resumed', 'post-processing');
    const placed = await system.place({ user_id: 'resumed' });
    const orderId = placed.body.order_id as string;
    await held.reached;
    const first = await watch(other, orderId);
    await waitFor(async () => (first.messages.length >= 7 ? true : undefined), 5000, 'seven events');
    first.close();
    const cut = first.messages[3]!.id;
    const resumed = await watch(system, orderId, { 'Last-Event-ID': cut });
    held.release();
    await resumed.ended;
    const whole = await watch(other, orderId);
    await whole.ended;
    expect(types(whole.messages)).toEqual([...completedRun, 'order-completed']);
    expect([...first.messages.slice(0, 4), ...resumed.messages]).toEqual(whole.messages);
    const after = await watch(other, orderId, { 'Last-Event-ID': whole.messages[5]!.id });
    await after.ended;
    expect(after.messages.map((m) => m.id)).toEqual(whole.messages.slice(6).map((m) => m.id));
  });

  it('tells a cancel: the request, the stopped step, each undo and the end', async () => {
    const held = hold('cancelled-watch', 'processing');
    const placed = await system.place({ user_id: 'cancelled-watch' });
    const orderId = placed.body.order_id as string;
    const stream = await watch(other, orderId);
    await held.reached;
    const res = await other.app.request(`/orders/${orderId}/cancel`, { method: 'POST' });
    expect(res.status).toBe(202);
    await stream.ended;
    expect(types(stream.messages)).toEqual([
      ...completedRun.slice(0, 5),
      'cancel-requested',
      'step-cancelled processing',
      'compensation-started pre-processing',
      'compensation-completed pre-processing',
      'compensation-started scheduling',
      'compensation-completed scheduling',
      'order-cancelled',
    ]);
  });

  it('answers 400 for a malformed Last-Event-ID and 404 for an unknown order', async () => {
    const placed = await system.place({ user_id: 'bad-cursor' });
    const bad = await other.app.request(`/orders/${placed.body.order_id}/events`, {
      headers: { 'Last-Event-ID': 'yesterday' },
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await other.app.request('/orders/3-01JD3Z9T4S8X5Q2W7E6R1Y0V9K/events')).status).toBe(404);
  });
});

describe('when a process has SSE_MAX_STREAMS streams open', () => {
  it('answers 503 with Retry-After, and opens streams again once one closed', async () => {
    const helds = ['limit-a', 'limit-b', 'limit-c'].map((user) => hold(user, 'scheduling'));
    const placed = await Promise.all(
      ['limit-a', 'limit-b', 'limit-c'].map((user) => system.place({ user_id: user })),
    );
    await Promise.all(helds.map((h) => h.reached));
    const open = [await watch(other, placed[0]!.body.order_id), await watch(other, placed[1]!.body.order_id)];
    const refused = await other.app.request(`/orders/${placed[2]!.body.order_id}/events`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/2 event streams open/);
    // An ended order's history is sent whatever the count: it holds no subscription.
    const done = await system.place({ user_id: 'limit-done' });
    await system.waitForTerminal(done.body.order_id);
    const history = await watch(other, done.body.order_id);
    await history.ended;
    expect(types(history.messages)).toEqual([...completedRun, 'order-completed']);

    helds[0]!.release();
    await open[0]!.ended;
    const third = await watch(other, placed[2]!.body.order_id);
    expect(third.res.status).toBe(200);
    // A client that leaves frees its stream too.
    third.close();
    await third.ended;
    const again = await waitFor(async () => {
      const res = await other.app.request(`/orders/${placed[2]!.body.order_id}/events`);
      if (res.status === 200) return res;
      await res.arrayBuffer();
      return undefined;
    });
    await again.body?.cancel();
    for (const h of helds) h.release();
    await Promise.all([open[1]!.ended, third.ended]);
  });
});
