/**
 * pino JSON logs. Secrets are redacted by key wherever they appear in a logged object, and the
 * destination is asynchronous so logging never blocks the signal path; `flush()` on shutdown.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

/** Keys whose values are secrets, at any of the first levels of a logged object. */
const SECRET_KEYS = [
  'authorization',
  'x-api-key',
  'secret',
  'secrets',
  'passphrase',
  'token',
  'admin_token',
  'read_token',
  'key_id',
  'secret_key',
  'signing_secret',
  'webhook-signature',
  'x-signature',
  'stripe-signature',
  'x-hub-signature-256',
];

export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => {
  const key = /^[a-z_]+$/.test(k) ? k : `["${k}"]`;
  const dot = key.startsWith('[') ? '' : '.';
  return [key, `*${dot}${key}`, `*.*${dot}${key}`];
});

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sluice' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
