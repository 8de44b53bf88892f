/**
 * The load: Standard-Webhooks-signed native signals, signed before the clock starts (a pool per
 * run), sent by autocannon over loopback.
 */
import { createHmac, randomBytes } from 'node:crypto';
import autocannon from 'autocannon';

const KEY = randomBytes(24);
export const SECRET = `whsec_${KEY.toString('base64')}`;
const RUN = randomBytes(4).toString('hex');

export type Scenario = 'unique' | 'duplicate storm' | 'mixed 80/20';

interface Prepared {
  body: string;
  headers: Record<string, string>;
}

let counter = 0;
function prepare(scenario: Scenario): Prepared {
  counter += 1;
  const duplicate = scenario === 'duplicate storm' || (scenario === 'mixed 80/20' && counter % 5 === 0);
  const id = duplicate ? `dup-${RUN}-${scenario === 'duplicate storm' ? 'storm' : 'mix'}` : `u-${RUN}-${counter}`;
  const instrument = duplicate ? 'DUP' : `BM${counter % 64}`;
  const body = JSON.stringify({ id, action: 'buy', instrument, quantity: 1, price: 100 });
  const ts = Math.floor(Date.now() / 1000);
  const sig = createHmac('sha256', KEY).update(`${id}.${ts}.${body}`).digest('base64');
  return { body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` } };
}

/** `n` requests of a scenario, signed now. */
export function pool(scenario: Scenario, n: number): Prepared[] {
  if (scenario === 'duplicate storm') return new Array<Prepared>(n).fill(prepare(scenario));
  return Array.from({ length: n }, () => prepare(scenario));
}

export interface Figures {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  sent: number;
  /** Requests that had to be signed during the run because the pool ran out (should be 0). */
  signedLate: number;
}

/** Runs the load for `seconds` (or `amount` requests) from a presigned pool. */
export async function load(url: string, scenario: Scenario, requests: Prepared[], o: { seconds?: number; amount?: number; connections: number; onSent?: () => void }): Promise<Figures> {
  let next = 0;
  let signedLate = 0;
  const result = await autocannon({
    url: `${url}/webhooks/bench`,
    connections: o.connections,
    ...(o.amount === undefined ? { duration: o.seconds ?? 10 } : { amount: o.amount }),
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          o.onSent?.();
          let r = requests[next];
          next += 1;
          if (r === undefined) {
            signedLate += 1;
            r = prepare(scenario);
          }
          return { ...req, method: 'POST', body: r.body, headers: r.headers };
        },
      },
    ],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors, sent: result.requests.total, signedLate };
}
