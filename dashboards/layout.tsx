// The frame of the ops pages: head with local assets only, top bar with links and the order search.
import type { Child } from 'hono/jsx';

export interface DashboardLinks {
  /** Where each surface lives; the pages only link to them. */
  dashboard: string;
  board: string;
  docs: string;
  metrics: string;
}

export interface LayoutProps {
  title: string;
  assets: string;
  links: DashboardLinks;
  /** Scripts of the page, in order, from `assets`. */
  scripts?: string[];
  children?: Child;
}

/** The search box: GET `<dashboard>/orders?id=…` redirects to the order's page. */
export function OrderSearch({ action, value = '' }: { action: string; value?: string }) {
  return (
    <form class="search" method="get" action={action}>
      <input
        type="search"
        name="id"
        value={value}
        placeholder="order id, e.g. 3-01JD3Z9T4S8X5Q2W7E6R1Y0U9K"
        aria-label="order id"
        required
      />
      <button type="submit">Open order</button>
    </form>
  );
}

/** A whole page; the `<!doctype>` is added by `renderPage`. */
export function Layout({ title, assets, links, scripts = [], children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={`${assets}/uPlot.min.css`} />
        <link rel="stylesheet" href={`${assets}/dashboard.css`} />
      </head>
      <body>
        <header class="topbar">
          <a class="brand" href={links.dashboard}>
            orderflow <span class="brand-sub">operations</span>
          </a>
          <nav>
            <a href={links.dashboard}>Dashboard</a>
            <a href={links.board}>Queues (Bull Board)</a>
            <a href={links.docs}>API docs</a>
            <a href={links.metrics}>Metrics</a>
          </nav>
          <OrderSearch action={`${links.dashboard}/orders`} />
        </header>
        <main>{children}</main>
        {scripts.map((src) => (
          <script src={`${assets}/${src}`} defer />
        ))}
      </body>
    </html>
  );
}

/** The HTML text of a page element, with its doctype. */
export const renderPage = (page: unknown) => `<!doctype html>${String(page)}`;
