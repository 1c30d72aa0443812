// One order's history for operators: steps with every attempt, the failure and the rollback.
import { isTerminal, type OrderRecord } from '../shared/domain/order.js';
import { ORDER_EVENT_TYPES } from '../shared/domain/order-events.js';
import { type DashboardLinks, Layout, OrderSearch } from './layout.js';

export interface OrderPageProps {
  assets: string;
  links: DashboardLinks;
  /** The JSON of the same order, for a link. */
  jsonHref: string;
  /** The order's event stream, which the page follows to redraw itself. */
  eventsHref: string;
  /** Where the page's cancel button posts (admin). */
  cancelHref: string;
  /** This page, fetched again for each event. */
  pageHref: string;
  order: OrderRecord;
}

const time = (iso: string | null) => (iso ? iso.replace('T', ' ').replace('Z', '') : '–');

/** "1.234 s" between two times, or "–" while one is missing. */
function span(from: string | null, to: string | null): string {
  if (!from || !to) return '–';
  return `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(3)} s`;
}

const Badge = ({ status }: { status: string }) => <span class={`badge ${status}`}>{status}</span>;

/** Follows the order live (order-live.js); a cancel button while it has not ended. */
function LiveSection({ order, eventsHref, cancelHref, pageHref }: OrderPageProps) {
  return (
    <section
      id="live"
      data-events={eventsHref}
      data-cancel={cancelHref}
      data-page={pageHref}
      data-types={ORDER_EVENT_TYPES.join(' ')}
    >
      <h2>
        Live <span id="live-status">connecting…</span>
      </h2>
      {!isTerminal(order.status) && !order.cancellation && (
        <form id="cancel-form" class="cancel-form">
          <input name="reason" placeholder="reason (optional)" maxlength={500} aria-label="cancel reason" />
          <button type="submit" id="cancel-button">
            Cancel order
          </button>
        </form>
      )}
      {/* Outside the form, which the page removes on the order's last event: under load that event
          can arrive before the cancel's own answer, which must still be shown. */}
      <span id="cancel-result" />
      <ol id="events" />
    </section>
  );
}

/** The order page. */
export function OrderPage(props: OrderPageProps) {
  const { assets, links, jsonHref, order } = props;
  return (
    <Layout title={`order ${order.order_id}`} assets={assets} links={links} scripts={['order-live.js']}>
      <LiveSection {...props} />
      <div id="order-record">
        <section class="order-head">
          <h1>
            Order <code>{order.order_id}</code> <Badge status={order.status} />
          </h1>
          <dl>
            <dt>user</dt>
            <dd>{order.user_id}</dd>
            <dt>shard</dt>
            <dd>{order.shard}</dd>
            <dt>current step</dt>
            <dd>{order.current_step}</dd>
            <dt>created</dt>
            <dd>{time(order.created_at)}</dd>
            <dt>started</dt>
            <dd>{time(order.started_at)}</dd>
            <dt>completed</dt>
            <dd>{time(order.completed_at)}</dd>
            <dt>end to end</dt>
            <dd>{span(order.created_at, order.completed_at)}</dd>
          </dl>
          <p>
            <a href={jsonHref}>JSON record</a>
          </p>
        </section>
        {order.cancellation && (
          <section class="cancellation">
            <h2>Cancellation</h2>
            <p>
              asked {time(order.cancellation.requested_at)} by{' '}
              {order.cancellation.requested_by ?? 'anonymous'}
              {order.cancellation.reason ? `: ${order.cancellation.reason}` : ''}; stopped{' '}
              {order.cancellation.stopped_at
                ? `${time(order.cancellation.stopped_at)} at ${order.cancellation.step ?? 'the start'} by ${order.cancellation.node_id ?? 'the API'}`
                : '(not yet: a run takes the request in)'}
            </p>
          </section>
        )}
        {order.failure && (
          <section class="failure">
            <h2>Failure</h2>
            <p>
              <strong>{order.failure.step}</strong>: {order.failure.reason}
            </p>
          </section>
        )}
        <section>
          <h2>Steps</h2>
          <table id="steps">
            <thead>
              <tr>
                <th>step</th>
                <th>status</th>
                <th>started</th>
                <th>completed</th>
                <th>took</th>
                <th>node</th>
                <th>attempts (node · start → end · outcome)</th>
              </tr>
            </thead>
            <tbody>
              {order.steps.map((step) => (
                <tr>
                  <td>{step.name}</td>
                  <td>
                    <Badge status={step.status} />
                  </td>
                  <td>{time(step.started_at)}</td>
                  <td>{time(step.completed_at)}</td>
                  <td>{span(step.started_at, step.completed_at)}</td>
                  <td>{step.node_id ?? '–'}</td>
                  <td>
                    <ol class="attempts">
                      {step.attempts.map((a) => (
                        <li>
                          {a.node_id} · {time(a.started_at)} → {time(a.ended_at)} ·{' '}
                          <Badge status={a.outcome} />
                        </li>
                      ))}
                    </ol>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        {order.rollback.length > 0 && (
          <section>
            <h2>Rollback (in the order it ran)</h2>
            <table id="rollback">
              <thead>
                <tr>
                  <th>compensated step</th>
                  <th>started</th>
                  <th>completed</th>
                  <th>took</th>
                  <th>node</th>
                </tr>
              </thead>
              <tbody>
                {order.rollback.map((r) => (
                  <tr>
                    <td>{r.step}</td>
                    <td>{time(r.started_at)}</td>
                    <td>{time(r.completed_at)}</td>
                    <td>{span(r.started_at, r.completed_at)}</td>
                    <td>{r.node_id}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
      </div>
    </Layout>
  );
}

/** The page of an id that matches no order. */
export function MissingOrderPage({
  assets,
  links,
  id,
}: {
  assets: string;
  links: DashboardLinks;
  id: string;
}) {
  return (
    <Layout title="order not found" assets={assets} links={links}>
      <section>
        <h1>No order {JSON.stringify(id)}</h1>
        <p>
          Ids look like <code>3-01JD3Z9T4S8X5Q2W7E6R1Y0U9K</code> (shard, dash, ULID). Try another:
        </p>
        <OrderSearch action={`${links.dashboard}/orders`} value={id} />
      </section>
    </Layout>
  );
}
