// The dashboard's entry: sign-in, views, the live link and the refresh of what the events touch.
import { ApiError, api, describe, followEvents, token, whenRefused } from './api.js';
import { wireActions, syncFlatten } from './actions.js';
import { loadDeliveries, wireDeliveries } from './deliveries.js';
import { byId, fill } from './dom.js';
import { addToFeed } from './feed.js';
import { renderOverview } from './overview.js';
import { loadSignals, onFirstPage, wireSignals } from './signals.js';
import { loadTrading } from './trading.js';

const ctx = {
  role: 'read',
  view: 'overview',
  report(text, isError = false) {
    const node = byId('action-result');
    node.textContent = text;
    node.classList.toggle('error', isError);
  },
  refresh: () => scheduleRefresh(0),
};

let stopEvents = null;
let refreshTimer = null;
let pollTimer = null;

async function refreshNow() {
  refreshTimer = null;
  try {
    const status = await api('/admin/status');
    applyRole(status.role);
    renderOverview(ctx, status);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) ctx.report(`Status not loaded: ${describe(err)}`, true);
    return;
  }
  await loadTrading(ctx);
  if (ctx.view === 'signals' && onFirstPage()) await loadSignals(ctx);
  if (ctx.view === 'deliveries') await loadDeliveries(ctx, { first: true });
}

/** Events come in bursts: one refresh per burst. */
function scheduleRefresh(ms = 250) {
  if (refreshTimer !== null) clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refreshNow(), ms);
}

function applyRole(role) {
  ctx.role = role === 'admin' ? 'admin' : 'read';
  byId('who').textContent = ctx.role === 'admin' ? 'admin token' : 'read-only token';
  byId('readonly-note').hidden = ctx.role === 'admin';
  for (const node of document.querySelectorAll('[data-write]')) node.disabled = ctx.role !== 'admin';
  syncFlatten(ctx);
}

function setLink(connected, why) {
  const node = byId('link');
  node.textContent = connected ? 'live' : `disconnected${why ? ` (${why})` : ''}, reconnecting`;
  node.classList.toggle('bad', !connected);
  node.classList.toggle('good', connected);
}

function show(view) {
  ctx.view = view;
  for (const button of document.querySelectorAll('nav.tabs button')) {
    if (button.dataset.view === view) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  for (const section of document.querySelectorAll('section.view')) section.hidden = section.id !== `view-${view}`;
  if (view === 'signals') void loadSignals(ctx);
  if (view === 'deliveries') void loadDeliveries(ctx, { first: true });
  if (view === 'positions') void loadTrading(ctx);
}

function signOut(message = '') {
  token.clear();
  stopEvents?.();
  stopEvents = null;
  if (pollTimer !== null) clearInterval(pollTimer);
  if (refreshTimer !== null) clearTimeout(refreshTimer);
  pollTimer = null;
  refreshTimer = null;
  byId('app').hidden = true;
  byId('signout').hidden = true;
  byId('signin').hidden = false;
  byId('who').textContent = '';
  fill('feed');
  setLink(false, null);
  byId('signin-error').textContent = message;
  byId('token').focus();
}

/** Checks the token with GET /admin/status; a 401 stays on the sign-in form. */
async function start() {
  let status;
  try {
    status = await api('/admin/status');
  } catch (err) {
    signOut(err instanceof ApiError && err.status === 401 ? 'token refused' : `Cannot sign in: ${describe(err)}`);
    return;
  }
  byId('signin').hidden = true;
  byId('app').hidden = false;
  byId('signout').hidden = false;
  byId('signin-error').textContent = '';
  applyRole(status.role);
  renderOverview(ctx, status);
  show(ctx.view);
  void loadTrading(ctx);
  stopEvents = followEvents({
    onEvent(e) {
      addToFeed(e);
      scheduleRefresh();
    },
    onState: setLink,
  });
  // Ages and stream states move without events.
  pollTimer = setInterval(() => scheduleRefresh(0), 5000);
}

function wire() {
  whenRefused(() => signOut('token refused'));
  byId('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = byId('token').value.trim();
    if (value === '') return;
    token.set(value);
    byId('token').value = '';
    void start();
  });
  byId('signout').addEventListener('click', () => signOut());
  for (const button of document.querySelectorAll('nav.tabs button')) button.addEventListener('click', () => show(button.dataset.view));
  wireSignals(ctx);
  wireDeliveries(ctx);
  wireActions(ctx);
  if (token.get() !== null) void start();
  else signOut();
}

wire();
