// Positions per connector (GET /admin/positions) and open orders with their fills (GET /admin/orders?status=open).
import { api, describe } from './api.js';
import { fill, h, num, table, time } from './dom.js';

export async function loadTrading(ctx) {
  try {
    const [positions, orders] = await Promise.all([api('/admin/positions'), api('/admin/orders?status=open&limit=200')]);
    renderPositions(positions);
    renderOrders(orders);
  } catch (err) {
    ctx.report(`Positions not loaded: ${describe(err)}`, true);
  }
}

function renderPositions(body) {
  const cards = Object.entries(body.connectors).map(([name, c]) =>
    h(
      'div',
      { class: 'card', 'data-connector': name },
      h('h3', {}, name),
      h(
        'p',
        {},
        `gross exposure ${num(c.gross_exposure)}, reserved ${num(c.reserved_exposure)}, realized PnL today `,
        h('strong', { class: c.realized_pnl_today < 0 ? 'loss' : '' }, num(c.realized_pnl_today)),
        c.max_daily_loss === null ? ' (no daily loss limit)' : ` of a daily loss limit of ${num(c.max_daily_loss)}`,
      ),
      table(
        ['instrument', 'quantity', 'avg price'],
        c.positions.map((p) => [p.instrument, h('span', { 'data-position': p.instrument }, num(p.quantity, 9)), num(p.avg_price, 6)]),
        'flat',
      ),
    ),
  );
  fill('positions', h('div', { class: 'grid' }, cards));
}

function renderOrders(page) {
  fill(
    'open-orders',
    table(
      ['created', 'connector', 'instrument', 'side', 'quantity', 'type', 'status', 'filled', 'avg fill', 'signal'],
      page.items.map((o) => [
        time(o.created_at),
        o.connector,
        o.instrument,
        o.side,
        num(o.quantity, 9),
        o.limit_price !== null ? `${o.order_type} ${num(o.limit_price, 6)}` : o.order_type,
        o.status,
        num(o.filled_quantity, 9),
        num(o.avg_fill_price, 6),
        o.signal_id ?? '',
      ]),
      'no open orders',
    ),
  );
}
