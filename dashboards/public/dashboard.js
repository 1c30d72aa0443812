// The ops dashboard's browser script: polls the JSON endpoints and redraws tiles, tables and charts.
// Plain ES2020 with uPlot as a global; no build step. Text from the server goes in as textContent only.
(() => {
  const root = document.getElementById('dashboard');
  if (!root) return;
  const endpoints = root.dataset;
  const refreshMs = Number(endpoints.refreshMs) || 3000;

  const number = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));
  const percent = (r) => (r === null || r === undefined ? '–' : `${(r * 100).toFixed(1)} %`);
  const perSecond = (n) => (n === null || n === undefined ? '–' : Number(n).toFixed(n < 10 ? 2 : 0));
  const clock = (iso) => new Date(iso).toLocaleTimeString('en-GB', { hour12: false });

  async function getJson(url) {
    const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    return res.json();
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function badge(text, status) {
    return el('span', text, `badge ${status ?? text}`);
  }

  function bar(value, max) {
    const outer = el('span', null, 'bar');
    const inner = el('span', null, 'bar-fill');
    inner.style.width = `${max > 0 ? Math.min(100, (100 * value) / max) : 0}%`;
    outer.append(inner);
    return outer;
  }

  function link(text, href) {
    const a = el('a', text);
    a.href = href;
    return a;
  }

  /** Replaces the rows of table `id`: each row is a list of cells (text or nodes). */
  function fillTable(id, rows, emptyText) {
    const body = document.querySelector(`#${id} tbody`);
    const columns = document.querySelectorAll(`#${id} thead th`).length;
    const fresh = rows.map((cells) => {
      const tr = el('tr');
      for (const content of cells) {
        const td = el('td');
        if (Array.isArray(content)) td.append(...content);
        else if (content instanceof Node) td.append(content);
        else td.textContent = content === null || content === undefined ? '–' : String(content);
        tr.append(td);
      }
      return tr;
    });
    if (fresh.length === 0) {
      const tr = el('tr', null, 'empty');
      const td = el('td', emptyText);
      td.colSpan = columns;
      tr.append(td);
      fresh.push(tr);
    }
    body.replaceChildren(...fresh);
  }

  function setText(id, text) {
    const node = document.getElementById(id);
    if (node) node.textContent = text;
  }

  function renderStats(stats) {
    setText('t-placed', number(stats.orders.placed));
    setText('t-completed', number(stats.orders.completed));
    setText('t-failed', number(stats.orders.failed));
    setText('t-cancelled', number(stats.orders.cancelled));
    setText('t-inflight', number(stats.orders.in_flight));
    setText('t-steps', perSecond(stats.last_minute.steps_per_second));
    setText('t-failrate', percent(stats.last_minute.failure_rate));
    setText('t-backlog', number(stats.backlog.waiting));
    const n = stats.nodes;
    setText('t-nodes', `${n.alive} · ${n.active_steps}/${n.capacity}`);
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.floor(s / 60)} min`;
    return `${Math.floor(s / 3600)} h`;
  }

  function renderNodes({ nodes }) {
    const now = Date.now();
    fillTable(
      'nodes',
      nodes.map((node) => {
        const state = !node.store_ok
          ? badge('store down', 'store-down')
          : node.state === 'draining'
            ? badge('draining')
            : badge('alive');
        const seen = `${Math.max(0, (now - Date.parse(node.last_seen)) / 1000).toFixed(1)} s ago`;
        // A node restarted under the same id (npm start's supervisor, compose) shows a new pid and a short uptime.
        const up = duration(now - Date.parse(node.started_at));
        return [
          el('code', node.id),
          state,
          `${node.host} · ${node.pid}`,
          up,
          [
            document.createTextNode(`${node.active} / ${node.concurrency}`),
            bar(node.active, node.concurrency),
          ],
          number(node.processed),
          number(node.failed),
          number(node.stalled_recovered),
          number(node.lock_lost),
          seen,
        ];
      }),
      'no live worker node: start one with npm run worker',
    );
  }

  function renderShards({ shards }) {
    const most = Math.max(1, ...shards.map((s) => s.waiting));
    fillTable(
      'shards',
      shards.map((s) => [
        String(s.shard).padStart(2, '0'),
        el('code', s.queue),
        s.slot,
        el('code', s.master ?? 'no owner'),
        s.replicas.join(', ') || '–',
        [document.createTextNode(number(s.waiting)), bar(s.waiting, most)],
        number(s.active),
        number(s.delayed),
      ]),
      'no shards',
    );
    const byMaster = new Map();
    for (const s of shards) {
      const entry = byMaster.get(s.master) ?? { shards: [], waiting: 0 };
      entry.shards.push(s.shard);
      entry.waiting += s.waiting;
      byMaster.set(s.master, entry);
    }
    const summary = [...byMaster].map(
      ([master, e]) =>
        `${master ?? 'no owner'}: ${e.shards.length} shards (${e.shards.join(', ')}), backlog ${e.waiting}`,
    );
    setText('masters', summary.join(' · '));
  }

  function renderFailures({ failures }) {
    fillTable(
      'failures',
      failures.map((f) => [
        clock(f.failed_at),
        link(f.order_id, `${endpoints.orders}/${encodeURIComponent(f.order_id)}`),
        f.user_id,
        f.step,
        f.reason,
        f.node_id,
      ]),
      'no failed order yet',
    );
  }

  function chart(id, series, yMin) {
    const target = document.getElementById(id);
    const opts = {
      width: Math.max(300, target.clientWidth),
      height: 220,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: false }))],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(yMin, (max ?? 0) * 1.15)] } },
      axes: [{}, { size: 50 }],
      legend: { live: false },
    };
    const plot = new uPlot(opts, [[], ...series.map(() => [])], target);
    window.addEventListener('resize', () =>
      plot.setSize({ width: Math.max(300, target.clientWidth), height: 220 }),
    );
    return { plot, target };
  }

  const throughput = chart(
    'chart-throughput',
    [
      { label: 'orders placed/s', color: '#2563eb' },
      { label: 'orders completed/s', color: '#15803d' },
      { label: 'orders failed/s', color: '#b91c1c' },
      { label: 'orders cancelled/s', color: '#3730a3' },
      { label: 'steps/s', color: '#7c3aed' },
    ],
    1,
  );
  const failureRate = chart('chart-failures', [{ label: 'failed / finished %', color: '#b91c1c' }], 10);

  function renderHistory(h) {
    const series = [
      h.orders_placed_per_second,
      h.orders_completed_per_second,
      h.orders_failed_per_second,
      h.orders_cancelled_per_second,
      h.steps_per_second,
    ];
    throughput.plot.setData([h.time, ...series]);
    const busy = h.time.filter((_t, i) => series.some((s) => s[i] > 0)).length;
    throughput.target.dataset.points = String(busy);
    const rate = h.failure_rate.map((r) => (r === null ? null : r * 100));
    failureRate.plot.setData([h.time, rate]);
    failureRate.target.dataset.points = String(rate.filter((r) => r !== null).length);
  }

  const renderers = [
    [endpoints.stats, renderStats],
    [endpoints.history, renderHistory],
    [endpoints.nodes, renderNodes],
    [endpoints.shards, renderShards],
    [endpoints.failures, renderFailures],
  ];

  async function refresh() {
    const results = await Promise.allSettled(renderers.map(([url, render]) => getJson(url).then(render)));
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
    const line = document.querySelector('.status-line');
    line.classList.toggle('stale', failed.length > 0);
    const at = new Date().toISOString();
    setText(
      'updated',
      failed.length ? `update failed at ${clock(at)}: ${failed.join('; ')}` : `updated ${clock(at)}`,
    );
  }

  refresh();
  setInterval(refresh, refreshMs);
})();
