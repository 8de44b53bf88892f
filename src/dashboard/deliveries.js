// Refused deliveries (GET /admin/deliveries): why each was refused, and an excerpt of its body as text.
import { api, describe } from './api.js';
import { byId, fill, h, table, time } from './dom.js';

const pages = { cursor: null, next: null };

export async function loadDeliveries(ctx, { first = false } = {}) {
  if (first) pages.cursor = null;
  const params = new URLSearchParams({ limit: '25' });
  if (pages.cursor !== null) params.set('cursor', pages.cursor);
  try {
    const page = await api(`/admin/deliveries?${params}`);
    pages.next = page.next_cursor;
    fill(
      'deliveries',
      table(
        ['at', 'source', 'code', 'reason', 'issues', 'body'],
        page.items.map((d) => [
          time(d.at),
          d.source,
          d.code ?? '',
          d.reason,
          d.issues.length === 0 ? '' : h('ul', {}, d.issues.map((i) => h('li', {}, `${i.path}: ${i.message}`))),
          h('code', { class: 'excerpt' }, d.body_excerpt),
        ]),
        'no refused deliveries',
      ),
    );
  } catch (err) {
    ctx.report(`Refused deliveries not loaded: ${describe(err)}`, true);
  }
  byId('deliveries-next').disabled = pages.next === null;
}

export function wireDeliveries(ctx) {
  byId('deliveries-first').addEventListener('click', () => void loadDeliveries(ctx, { first: true }));
  byId('deliveries-next').addEventListener('click', () => {
    if (pages.next === null) return;
    pages.cursor = pages.next;
    void loadDeliveries(ctx);
  });
}
