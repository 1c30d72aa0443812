// The ops dashboard page: the skeleton the browser script fills from the JSON endpoints and refreshes.
import { type DashboardLinks, Layout } from './layout.js';

/** JSON endpoints the page polls. */
export interface DashboardEndpoints {
  stats: string;
  history: string;
  nodes: string;
  shards: string;
  failures: string;
}

export interface DashboardPageProps {
  assets: string;
  links: DashboardLinks;
  endpoints: DashboardEndpoints;
  refreshMs: number;
}

const Tile = ({ id, label, hint }: { id: string; label: string; hint?: string }) => (
  <div class="tile" title={hint}>
    <div class="tile-label">{label}</div>
    <div class="tile-value" id={id}>
      –
    </div>
  </div>
);

const Table = ({ id, columns }: { id: string; columns: string[] }) => (
  <table id={id}>
    <thead>
      <tr>
        {columns.map((column) => (
          <th>{column}</th>
        ))}
      </tr>
    </thead>
    <tbody>
      <tr class="empty">
        <td colspan={columns.length}>loading…</td>
      </tr>
    </tbody>
  </table>
);

/** The dashboard. Every number on it comes from the endpoints, so it shows what the API shows. */
export function DashboardPage({ assets, links, endpoints, refreshMs }: DashboardPageProps) {
  return (
    <Layout
      title="orderflow · operations"
      assets={assets}
      links={links}
      scripts={['uPlot.iife.min.js', 'dashboard.js']}
    >
      <div
        id="dashboard"
        data-stats={endpoints.stats}
        data-history={endpoints.history}
        data-nodes={endpoints.nodes}
        data-shards={endpoints.shards}
        data-failures={endpoints.failures}
        data-orders={`${links.dashboard}/orders`}
        data-refresh-ms={String(refreshMs)}
      >
        <p class="status-line">
          <span id="updated">not yet refreshed</span> · refreshes every {refreshMs / 1000} s
        </p>
        <section class="tiles">
          <Tile id="t-placed" label="Orders placed" hint="since the namespace was first used" />
          <Tile id="t-completed" label="Completed" />
          <Tile id="t-failed" label="Failed" />
          <Tile id="t-cancelled" label="Cancelled" />
          <Tile id="t-inflight" label="In flight" hint="placed - completed - failed - cancelled" />
          <Tile id="t-steps" label="Steps / s" hint="last minute" />
          <Tile id="t-failrate" label="Failure rate" hint="failed / finished orders, last minute" />
          <Tile id="t-backlog" label="Backlog" hint="steps waiting for a node, all shards" />
          <Tile id="t-nodes" label="Nodes" hint="alive · active steps / slots" />
        </section>
        <section class="charts">
          <figure>
            <figcaption>Throughput per second (10 s buckets, last 10 min)</figcaption>
            <div id="chart-throughput" class="chart" data-points="0" />
          </figure>
          <figure>
            <figcaption>Failure rate: failed / finished orders (%)</figcaption>
            <div id="chart-failures" class="chart" data-points="0" />
          </figure>
        </section>
        <section>
          <h2>Worker nodes</h2>
          <Table
            id="nodes"
            columns={[
              'node',
              'state',
              'host · pid',
              'up',
              'active / slots',
              'processed',
              'failed',
              'stalled recovered',
              'lock lost',
              'last seen',
            ]}
          />
        </section>
        <section>
          <h2>Shards</h2>
          <p class="hint">The store master owning each shard's slot (live CLUSTER SLOTS) and its queue.</p>
          <p class="hint" id="masters" />
          <Table
            id="shards"
            columns={[
              'shard',
              'queue',
              'slot',
              'store master',
              'replicas',
              'backlog (waiting)',
              'active',
              'delayed',
            ]}
          />
        </section>
        <section>
          <h2>Recent failed orders</h2>
          <Table id="failures" columns={['failed at', 'order', 'user', 'step', 'reason', 'node']} />
        </section>
      </div>
    </Layout>
  );
}
