// Signals: a filtered, paged list (GET /admin/signals) and one signal's detail (GET /admin/signals/{id}).
import { api, describe } from './api.js';
import { byId, facts, failures, fill, h, json, num, table, time } from './dom.js';

const list = { filter: {}, cursor: null, next: null };

function query() {
  const params = new URLSearchParams({ limit: '25' });
  for (const [key, value] of Object.entries(list.filter)) if (value !== '') params.set(key, value);
  if (list.cursor !== null) params.set('cursor', list.cursor);
  return `/admin/signals?${params}`;
}

/** Loads the current page; `first` goes back to the first page. */
export async function loadSignals(ctx, { first = false } = {}) {
  if (first) list.cursor = null;
  try {
    const page = await api(query());
    list.next = page.next_cursor;
    fill('signals-error');
    renderList(ctx, page.items);
  } catch (err) {
    fill('signals-error', `Signals not loaded: ${describe(err)}`);
  }
  byId('signals-next').disabled = list.next === null;
}

/** The list follows live events only on its first page (later pages would shift under the reader). */
export function onFirstPage() {
  return list.cursor === null;
}

export function wireSignals(ctx) {
  const form = byId('signal-filter');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    list.filter = { status: String(data.get('status') ?? ''), source: String(data.get('source') ?? '').trim(), instrument: String(data.get('instrument') ?? '').trim() };
    void loadSignals(ctx, { first: true });
  });
  byId('signals-first').addEventListener('click', () => void loadSignals(ctx, { first: true }));
  byId('signals-next').addEventListener('click', () => {
    if (list.next === null) return;
    list.cursor = list.next;
    void loadSignals(ctx);
  });
}

function renderList(ctx, items) {
  fill(
    'signals',
    table(
      ['received', 'signal', 'source', 'instrument', 'action', 'status', 'decision'],
      items.map((s) => [
        time(s.received_at),
        h('button', { type: 'button', class: 'link', 'data-signal': s.signal_id, onclick: () => void openSignal(ctx, s.signal_id) }, s.signal_id),
        s.source,
        s.instrument,
        String(s.signal.action ?? ''),
        h('span', { class: `status status-${s.status}` }, s.status),
        failures(s.decision),
      ]),
      'no signals match',
    ),
  );
}

export async function openSignal(ctx, id) {
  const target = byId('signal-detail');
  try {
    const d = await api(`/admin/signals/${encodeURIComponent(id)}`);
    fill(target, renderDetail(d));
    target.focus();
  } catch (err) {
    fill(target, h('p', { class: 'error', role: 'alert' }, `Signal ${id} not loaded: ${describe(err)}`));
  }
}

function renderDetail(d) {
  const decision = d.decision;
  return h(
    'article',
    { class: 'detail', 'aria-label': `Signal ${d.signal_id}` },
    h('h3', {}, `Signal ${d.signal_id}`),
    facts([
      ['status', d.status],
      ['source', d.source],
      ['connector', d.connector],
      ['instrument', d.instrument],
      ['idempotency key', d.idempotency_key],
      ['received', time(d.received_at)],
      ['updated', time(d.updated_at)],
    ]),
    h('h4', {}, 'Signal'),
    json(d.signal),
    h('h4', {}, 'Decision'),
    decision === null
      ? h('p', { class: 'muted' }, 'not decided yet')
      : h(
          'div',
          { id: 'decision' },
          h('p', {}, decision.allowed ? `allowed: ${decision.side ?? 'forward'} ${num(decision.quantity, 9)}${decision.exit ? ' (exit)' : ''}${decision.trimmed ? ' (trimmed)' : ''}` : 'rejected'),
          table(['rule', 'code', 'message'], decision.failures.map((f) => [f.rule, f.code ?? '', f.message]), 'no rule failed'),
        ),
    d.result === null ? null : [h('h4', {}, 'Result'), json(d.result)],
    h('h4', {}, 'Attempts'),
    table(['#', 'at', 'outcome', 'error'], d.attempts.map((a) => [String(a.n), time(a.at), a.outcome, a.error ?? '']), 'no attempts'),
    h('h4', {}, 'Orders'),
    table(
      ['client order id', 'side', 'quantity', 'type', 'status', 'filled', 'avg fill'],
      d.orders.map((o) => [o.client_order_id, o.side, num(o.quantity, 9), o.order_type, o.status, num(o.filled_quantity, 9), num(o.avg_fill_price, 6)]),
      'no orders',
    ),
    h('h4', {}, 'Events'),
    table(['seq', 'at', 'type', 'data'], d.events.map((e) => [String(e.seq), time(e.at), e.type, h('code', {}, JSON.stringify(e.data))]), 'no events'),
  );
}
