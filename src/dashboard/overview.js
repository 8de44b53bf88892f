// The overview: GET /admin/status, with the mode buttons and breaker resets.
import { api, describe } from './api.js';
import { facts, fill, h, num, table, time } from './dom.js';

const MODES = [
  { mode: 'paused', label: 'Pause' },
  { mode: 'exit_only', label: 'Exit only' },
  { mode: 'enabled', label: 'Enable' },
];

/** A button that changes something: disabled for the read-only token. */
export function writeButton(ctx, label, onclick, attrs = {}) {
  return h('button', { type: 'button', 'data-write': true, disabled: ctx.role !== 'admin', onclick, ...attrs }, label);
}

async function setMode(ctx, mode, reasonInput) {
  const reason = reasonInput.value.trim();
  if (reason === '') {
    ctx.report('A reason is required to change the mode.', true);
    reasonInput.focus();
    return;
  }
  try {
    await api('/admin/mode', { method: 'POST', body: { mode, reason } });
    reasonInput.value = '';
    ctx.report(`Mode set to ${mode}.`);
  } catch (err) {
    ctx.report(`Mode not changed: ${describe(err)}`, true);
  }
  ctx.refresh();
}

async function resetBreaker(ctx, connector) {
  try {
    await api(`/admin/breakers/${encodeURIComponent(connector)}/reset`, { method: 'POST' });
    ctx.report(`Breaker of ${connector} reset.`);
  } catch (err) {
    ctx.report(`Breaker not reset: ${describe(err)}`, true);
  }
  ctx.refresh();
}

// Kept across renders: what the operator is typing survives a live refresh.
let reasonInput = null;

export function renderOverview(ctx, s) {
  reasonInput ??= h('input', { id: 'mode-reason', autocomplete: 'off', 'data-write': true });
  reasonInput.disabled = ctx.role !== 'admin';
  const focused = document.activeElement?.id ?? '';
  const mode = h(
    'div',
    { class: 'card' },
    h('h3', {}, 'Mode'),
    h('p', {}, h('strong', { id: 'mode', class: `mode mode-${s.mode ?? 'unknown'}` }, s.mode ?? 'unknown'), s.mode_reason ? ` — ${s.mode_reason}` : '', s.mode_changed_at ? ` (since ${time(s.mode_changed_at)})` : ''),
    h('label', { for: 'mode-reason' }, 'Reason for a mode change'),
    reasonInput,
    h('div', { class: 'row' }, MODES.map((m) => writeButton(ctx, m.label, () => setMode(ctx, m.mode, reasonInput), { id: `mode-${m.mode}`, 'aria-pressed': String(s.mode === m.mode) }))),
  );
  const breakers = h(
    'div',
    { class: 'card' },
    h('h3', {}, 'Breakers'),
    table(
      ['connector', 'state', 'failures', 'opened', ''],
      Object.entries(s.breakers).map(([name, b]) => [
        name,
        h('span', { class: `state state-${b.state}`, 'data-breaker': name }, b.state),
        String(b.consecutive_failures),
        time(b.opened_at),
        writeButton(ctx, `Reset ${name}`, () => resetBreaker(ctx, name), { 'data-reset': name, id: `reset-${name}` }),
      ]),
    ),
  );
  const degraded = h(
    'div',
    { class: 'card' },
    h('h3', {}, `Health: ${s.status}`),
    table(['component', 'reason', 'since'], s.degraded.map((d) => [d.component, d.reason, time(d.since)]), 'nothing degraded'),
  );
  const last = s.last_signal;
  const queue = h(
    'div',
    { class: 'card' },
    h('h3', {}, 'Queue and signals'),
    facts([
      ['accepted', s.queue ? String(s.queue.accepted) : '—'],
      ['executing', s.queue ? String(s.queue.executing) : '—'],
      ['oldest accepted', s.queue ? `${num(s.queue.oldest_accepted_age_seconds, 0)} s` : '—'],
      ['spooled', String(s.spool.pending)],
      ['open orders', s.orders ? String(s.orders.open) : '—'],
      ['last signal', last ? h('span', { id: 'last-signal' }, `${last.signal_id} ${last.source} ${last.status} ${time(last.received_at)}`) : 'none yet'],
      ['read at', time(s.read_at)],
      ['version', `${s.version}${s.test_mode ? ' (test mode)' : ''}, up ${num(s.uptime_seconds, 0)} s`],
    ]),
  );
  const streams = h(
    'div',
    { class: 'card' },
    h('h3', {}, 'Order streams'),
    table(['connector', 'state', 'reason', 'since'], s.streams.map((t) => [t.connector, t.connected ? 'connected' : 'down', t.reason ?? '', time(t.since)]), 'no connector streams its orders'),
  );
  const errors = h(
    'div',
    { class: 'card wide' },
    h('h3', {}, 'Recent errors'),
    table(['at', 'component', 'message', 'signal'], s.recent_errors.map((e) => [time(e.at), e.component, e.message, e.signal_id ?? '']), 'no recent errors'),
  );
  fill('overview', h('div', { class: 'grid' }, mode, breakers, degraded, queue, streams, errors));
  // A refresh replaces the buttons: the keyboard focus stays where it was.
  if (focused !== '') document.getElementById(focused)?.focus();
}
