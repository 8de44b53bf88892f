/**
 * The benchmark's ceiling: a bare Hono server on @hono/node-server that does the least a
 * webhook endpoint can do — read the same body, parse it, answer JSON. Run as its own process.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.text('ok'));
app.post('/webhooks/:source', async (c) => {
  const body = (await c.req.json()) as { id?: string };
  return c.json({ signal_id: `sig_${body.id ?? ''}`, status: 'accepted', idempotency_key: body.id ?? null }, 202);
});
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.argv[2] ?? 0) });
process.once('SIGTERM', () => server.close(() => process.exit(0)));
