// Flatten (behind a typed confirmation) and the replay form.
import { api, describe } from './api.js';
import { byId, facts, failures, fill, h, num, table, time } from './dom.js';

const CONFIRM = 'FLATTEN';

/** Flatten is possible only for the admin token, with a reason and FLATTEN typed exactly. */
export function syncFlatten(ctx) {
  const ready = ctx.role === 'admin' && byId('flatten-confirm').value === CONFIRM && byId('flatten-reason').value.trim() !== '';
  byId('flatten').disabled = !ready;
}

export function wireActions(ctx) {
  for (const id of ['flatten-confirm', 'flatten-reason']) byId(id).addEventListener('input', () => syncFlatten(ctx));
  byId('flatten-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (byId('flatten-confirm').value !== CONFIRM) return;
    byId('flatten').disabled = true;
    try {
      const out = await api('/admin/flatten', { method: 'POST', body: { reason: byId('flatten-reason').value.trim() } });
      ctx.report(`Flatten accepted: ${out.signals.length} closing signal(s) recorded.`);
      byId('flatten-confirm').value = '';
      byId('flatten-reason').value = '';
    } catch (err) {
      ctx.report(`Flatten refused: ${describe(err)}`, true);
    }
    syncFlatten(ctx);
    ctx.refresh();
  });
  byId('replay-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { from: byId('replay-from').value.trim(), to: byId('replay-to').value.trim() };
    const source = byId('replay-source').value.trim();
    if (source !== '') body.source = source;
    fill('replay-report', h('p', { class: 'muted' }, 'Replaying…'));
    try {
      renderReplay(await api('/admin/replay', { method: 'POST', body }));
    } catch (err) {
      fill('replay-report', h('p', { class: 'error', role: 'alert' }, `Replay refused: ${describe(err)}`));
    }
  });
}

function totals(name, t) {
  return h(
    'div',
    { class: 'card', 'data-totals': name },
    h('h4', {}, `${name} policy`),
    facts([
      ['signals', String(t.signals)],
      ['allowed', String(t.allowed)],
      ['rejected', String(t.rejected)],
      ['rejected by rule', Object.entries(t.rejected_by_rule).map(([r, n]) => `${r}: ${n}`).join(', ') || '—'],
      ['unpriced / unfilled', `${t.unpriced} / ${t.unfilled}`],
      ['differs from recorded', String(t.differs_from_original)],
      ['peak gross exposure', num(t.peak_gross_exposure)],
      ['realized PnL', num(t.realized_pnl)],
      ['daily loss tripped', t.daily_loss_tripped ? `${t.daily_loss_tripped.day} by ${t.daily_loss_tripped.signal_id}` : 'no'],
      ['final mode', t.final_mode],
    ]),
  );
}

function renderReplay(r) {
  fill(
    'replay-report',
    h('p', {}, `${r.signals} signal(s) from ${time(r.window.from)} to ${time(r.window.to)}${r.window.source ? ` of ${r.window.source}` : ''}.`),
    h('div', { class: 'grid' }, totals('current', r.current), r.candidate ? totals('candidate', r.candidate) : null),
    table(
      ['received', 'signal', 'instrument', 'action', 'price', 'recorded', 'replayed', 'fill'],
      r.rows.map((row) => [
        time(row.received_at),
        row.signal_id,
        row.instrument,
        row.action,
        num(row.price, 6),
        row.original === null ? 'undecided' : failures(row.original),
        failures(row.current),
        `${row.current.fill}${row.current.fill_price !== null ? ` @ ${num(row.current.fill_price, 6)}` : ''}`,
      ]),
      'no signals in the window',
    ),
  );
}
