// The order page's browser script: follows the order's event stream (EventSource, which resumes
// with Last-Event-ID by itself), lists each event, redraws the record from the server's own page,
// and posts the cancel button. Plain ES2020, no build step; server text goes in as textContent only.
(() => {
  const live = document.getElementById('live');
  if (!live) return;
  const { events: eventsUrl, cancel: cancelUrl, page: pageUrl, types } = live.dataset;
  const log = document.getElementById('events');
  const status = document.getElementById('live-status');
  const form = document.getElementById('cancel-form');
  const TERMINAL = new Set(['order-completed', 'order-failed', 'order-cancelled']);
  const clock = (iso) => (iso ? new Date(iso).toISOString().slice(11, 23) : '');

  /** Replaces the record's part of the page with the same part of a fresh render. */
  async function redraw() {
    const res = await fetch(pageUrl, { credentials: 'same-origin', headers: { accept: 'text/html' } });
    if (!res.ok) return;
    const fresh = new DOMParser()
      .parseFromString(await res.text(), 'text/html')
      .getElementById('order-record');
    const current = document.getElementById('order-record');
    if (fresh && current) current.replaceWith(document.importNode(fresh, true));
  }
  // One redraw at a time, the last one after the last event.
  let redrawing = Promise.resolve();
  const queueRedraw = () => {
    redrawing = redrawing.then(redraw).catch(() => undefined);
  };

  const source = new EventSource(eventsUrl);
  source.onopen = () => {
    status.textContent = 'live';
  };
  source.onerror = () => {
    if (live.dataset.state !== 'ended') status.textContent = 'reconnecting…';
  };
  for (const type of (types || '').split(' ')) {
    source.addEventListener(type, (message) => {
      const event = JSON.parse(message.data);
      const item = document.createElement('li');
      item.dataset.type = type;
      const where = [event.step, event.node_id && `on ${event.node_id}`].filter(Boolean).join(' ');
      item.textContent = `${clock(event.at)} ${type}${where ? ` ${where}` : ''}`;
      log.append(item);
      queueRedraw();
      if (TERMINAL.has(type)) {
        // The server closes the stream after the end; without this, EventSource would reconnect.
        source.close();
        live.dataset.state = 'ended';
        status.textContent = `ended (${event.status})`;
        form?.remove();
      }
    });
  }

  form?.addEventListener('submit', async (submit) => {
    submit.preventDefault();
    const result = document.getElementById('cancel-result');
    const reason = form.elements.namedItem('reason').value.trim();
    const res = await fetch(cancelUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(reason ? { reason } : {}),
    });
    const body = await res.json().catch(() => ({}));
    result.textContent = res.ok ? `cancel: ${body.outcome}` : `refused: ${body.detail ?? res.status}`;
    queueRedraw();
  });
})();
