// The dashboard's static files: its own script and style, and uPlot from node_modules (no CDN).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';

interface Asset {
  path: string;
  type: string;
  /** Versioned files from node_modules may be cached; ours change with the code. */
  cache: string;
}

/** The files by URL name; nothing else is served, so no path from a request reaches the file system. */
function assetFiles(): Record<string, Asset> {
  const resolve = createRequire(import.meta.url).resolve;
  const own = (name: string) => fileURLToPath(new URL(`./public/${name}`, import.meta.url));
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return {
    'dashboard.js': { path: own('dashboard.js'), type: js, cache: 'no-cache' },
    'order-live.js': { path: own('order-live.js'), type: js, cache: 'no-cache' },
    'dashboard.css': { path: own('dashboard.css'), type: css, cache: 'no-cache' },
    'uPlot.iife.min.js': { path: resolve('uplot/dist/uPlot.iife.min.js'), type: js, cache: 'max-age=86400' },
    'uPlot.min.css': { path: resolve('uplot/dist/uPlot.min.css'), type: css, cache: 'max-age=86400' },
  };
}

/** A sub-app serving the assets at `/<name>`; files are read on first use and kept in memory. */
export function createAssets(): Hono {
  const files = assetFiles();
  const loaded = new Map<string, Promise<Buffer>>();
  const app = new Hono();
  app.get('/:name', async (c) => {
    const name = c.req.param('name');
    const asset = Object.hasOwn(files, name) ? files[name] : undefined;
    if (!asset) throw new HTTPException(404, { message: `no dashboard asset ${name}` });
    let body = loaded.get(name);
    if (!body) {
      body = readFile(asset.path);
      loaded.set(name, body);
      body.catch(() => loaded.delete(name));
    }
    return c.body(new Uint8Array(await body), 200, {
      'Content-Type': asset.type,
      'Cache-Control': asset.cache,
    });
  });
  return app;
}
