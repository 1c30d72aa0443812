// The admin pages in a real browser (Debian's Chromium through playwright-core), served on a socket.
// Each test checks that its own pages made no external request and logged no error.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ServerType, serve } from '@hono/node-server';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StepContext } from '../../workers/steps/contract.js';
import { simulatedHandlers } from '../../workers/steps/simulated.js';
import { startMeteredNode } from '../support/metered-node.js';
import { failingAt } from '../support/step-handlers.js';
import { createTestSystem, type TestSystem } from '../support/system.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'browser-test-admin-token';
let system: TestSystem;
let server: ServerType;
let origin = '';
let context: BrowserContext;
let profile = '';
/**
 * Every console error, page error and request to another origin of the test under way: emptied
 * before each test and checked at its end, so each test answers for its own pages, alone or not.
 */
const problems: string[] = [];

function watch(page: Page): Page {
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()} (${page.url()})`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message} (${page.url()})`));
  return page;
}

/**
 * Takes a full-page screenshot and checks it is a real picture of a page (a PNG at least as wide as
 * the viewport, not a blank few bytes). SCREENSHOT_DIR=dir keeps it (docs/screenshots/ holds the
 * README's, taken so); otherwise it goes to a temporary dir.
 */
async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.SCREENSHOT_DIR ?? mkdtempSync(path.join(tmpdir(), 'orderflow-shots-'));
  const file = path.join(dir, name);
  const png = await page.screenshot({ path: file, fullPage: true });
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(png.readUInt32BE(16), `${name} width`).toBeGreaterThanOrEqual(800);
  expect(png.readUInt32BE(20), `${name} height`).toBeGreaterThanOrEqual(400);
  expect(png.length, `${name} bytes`).toBeGreaterThan(20_000);
  if (!process.env.SCREENSHOT_DIR) rmSync(dir, { recursive: true, force: true });
}

// .ci/run installs Chromium; elsewhere (a Mac without it) the file is skipped with this reason.
describe.skipIf(!existsSync(CHROMIUM))(`the admin pages in Chromium (${CHROMIUM})`, () => {
  beforeAll(async () => {
    system = createTestSystem({ ADMIN_TOKEN: TOKEN, HEARTBEAT_MS: '500', STEP_MS: '40' });
    // The orders of the browser-bad users fail at processing.
    const failAt = (order: { user_id: string }) =>
      order.user_id.startsWith('browser-bad-') ? 'processing' : null;
    const steps = failingAt(failAt, simulatedHandlers(system.config));
    // The browser-hold user's orders stay in processing until cancelled (the cancel test).
    const holding = {
      ...steps.processing,
      async run(ctx: StepContext) {
        if (ctx.order.user_id === 'browser-hold') await sleep(120_000, undefined, { signal: ctx.signal });
        return steps.processing.run(ctx);
      },
    };
    startMeteredNode(system, 'browser-node', {}, { ...steps, processing: holding });
    server = serve({ fetch: system.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const placed = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => system.place({ user_id: `browser-ok-${i}` })),
      ...Array.from({ length: 2 }, (_, i) => system.place({ user_id: `browser-bad-${i}` })),
    ]);
    const orders = await Promise.all(placed.map((p) => system.waitForTerminal(p.body.order_id)));
    // The pages below count these: 8 completed and 2 failed, whatever runs first.
    expect(orders.filter((o) => o.status === 'failed')).toHaveLength(2);

    profile = mkdtempSync(path.join(tmpdir(), 'orderflow-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      httpCredentials: { username: 'admin', password: TOKEN },
      viewport: { width: 1400, height: 1000 },
    });
    // Each browser action fails with its own message well within a test's time, rather than the
    // whole test timing out with none (one CI run on loaded cores: a blind 60 s timeout).
    context.setDefaultTimeout(20_000);
    // Nothing may leave the machine: anything for another origin is recorded and refused.
    await context.route(
      (url) => url.origin !== origin,
      (route) => {
        problems.push(`external request: ${route.request().url()}`);
        return route.abort();
      },
    );
  });

  beforeEach(() => {
    problems.length = 0;
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await system?.close();
  });

  it('Bull Board lists the 12 shard queues by readable name', async () => {
    const page = watch(await context.newPage());
    await page.goto(`${origin}/admin/queues`);
    for (let shard = 0; shard < 12; shard++) {
      const name = `shard ${String(shard).padStart(2, '0')} (steps-s${String(shard).padStart(2, '0')})`;
      await expect.poll(() => page.getByText(name, { exact: true }).count(), { timeout: 15_000 }).toBe(1);
    }
    await page.close();
    expect(problems).toEqual([]);
  });

  it('the dashboard shows the live node, the shards and a throughput chart with data', async () => {
    const page = watch(await context.newPage());
    await page.goto(`${origin}/dashboard`);
    const nodeRow = page.locator('#nodes tbody tr', { hasText: 'browser-node' });
    await expect.poll(() => nodeRow.count(), { timeout: 15_000 }).toBe(1);
    expect(await nodeRow.textContent()).toMatch(/alive/);
    // Its uptime, which a restart under the same id resets.
    expect(await nodeRow.locator('td').nth(3).textContent()).toMatch(/^\d+ (s|min|h)$/);
    await expect.poll(() => page.locator('#shards tbody tr').count(), { timeout: 15_000 }).toBe(12);
    const chart = page.locator('#chart-throughput');
    await expect
      .poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 15_000 })
      .toBeGreaterThan(0);
    expect(await chart.locator('canvas').count()).toBe(1);
    await expect.poll(() => page.locator('#t-placed').textContent(), { timeout: 15_000 }).toBe('10');
    await expect.poll(() => page.locator('#failures tbody a').count(), { timeout: 15_000 }).toBe(2);

    await page.locator('#failures tbody a').first().click();
    await page.waitForURL(/\/dashboard\/orders\//);
    expect(await page.locator('h1 .badge').textContent()).toBe('failed');
    expect(await page.locator('#rollback tbody tr').count()).toBe(2);
    await page.close();
    expect(problems).toEqual([]);
  });

  it("the order page follows the order live, and an admin's cancel button stops it", async () => {
    const placed = await system.place({ user_id: 'browser-hold' });
    const page = watch(await context.newPage());
    await page.goto(`${origin}/dashboard/orders/${placed.body.order_id}`);
    await expect.poll(() => page.locator('#live-status').textContent(), { timeout: 15_000 }).toBe('live');
    const started = page.locator('#events li[data-type="step-started"]');
    await expect.poll(() => started.count(), { timeout: 15_000 }).toBe(3); // scheduling to processing
    await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 15_000 }).toBe('in_progress');
    await screenshot(page, 'order-live.png');

    await page.locator('#cancel-form input[name="reason"]').fill('browser test');
    await page.locator('#cancel-button').click();
    await expect
      .poll(() => page.locator('#cancel-result').textContent(), { timeout: 15_000 })
      .toMatch(/^cancel: /);
    // Redrawn from the stream alone: no reload.
    await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 15_000 }).toBe('cancelled');
    await expect
      .poll(() => page.locator('#events li').last().getAttribute('data-type'), { timeout: 15_000 })
      .toBe('order-cancelled');
    expect(await page.locator('#live-status').textContent()).toBe('ended (cancelled)');
    expect(await page.locator('#cancel-form').count()).toBe(0);
    expect(await page.locator('.cancellation').textContent()).toMatch(/admin \(dashboard\): browser test/);
    expect(await page.locator('#rollback tbody tr').count()).toBe(2);
    expect(await page.locator('#events li[data-type="compensation-completed"]').count()).toBe(2);
    await screenshot(page, 'order-cancelled.png');
    await page.close();
    expect(problems).toEqual([]);
  }, 120_000);
});
