// Bull Board over every shard's queue, as a Hono sub-app to mount at `basePath`.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono, type MiddlewareHandler } from 'hono';

export interface BoardOptions {
  /** One queue per shard, index = shard. */
  queues: readonly Queue[];
  /** Where the parent app mounts the board, e.g. `/admin/queues`; the board's links are built on it. */
  basePath: string;
  /**
   * No retry, remove, promote or clean buttons. The default, because acting on one step of a chain
   * behind the order record's back (retrying a failed step of a rolled-back order) breaks the order.
   */
  readOnly?: boolean;
  /** Shown in the board's header menu, e.g. the ops dashboard. */
  links?: Array<{ text: string; url: string }>;
}

/**
 * The board page asks Google Fonts for its typeface; dropping that link keeps the admin surfaces
 * free of external requests (the board falls back to the system font).
 */
const withoutExternalStylesheets: MiddlewareHandler = async function noExternalAssets(c, next) {
  await next();
  if (!c.res.headers.get('content-type')?.startsWith('text/html')) return;
  const { status } = c.res;
  const html = await c.res.text();
  const headers = new Headers(c.res.headers);
  headers.delete('content-length');
  c.res = undefined; // replace the response rather than merge headers into it
  c.res = new Response(html.replace(/<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>\s*/g, ''), {
    status,
    headers,
  });
};

/** Bull Board with one readable entry per shard queue: "shard 03 (steps-s03)". */
export function createBoard({ queues, basePath, readOnly = true, links = [] }: BoardOptions): Hono {
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(basePath);
  createBullBoard({
    queues: queues.map(
      (queue, shard) =>
        new BullMQAdapter(queue, {
          readOnlyMode: readOnly,
          allowRetries: !readOnly,
          displayName: `shard ${String(shard).padStart(2, '0')} (${queue.name})`,
          description: `shard ${shard} of ${queues.length}; keys under ${queue.opts.prefix}`,
        }),
    ),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'orderflow',
        miscLinks: links,
        sortQueues: true,
        pollingInterval: { showSetting: true },
      },
    },
  });
  const app = new Hono();
  app.use('*', withoutExternalStylesheets);
  app.route('/', serverAdapter.registerPlugin());
  return app;
}
