/** The Hono environment: only request-scoped values live on the context. */
import type { Logger } from 'pino';
import type { TraceSpan } from '../telemetry/tracing.js';

export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    /** Set by adminAuth: which operator token the request carries. */
    role: 'admin' | 'read';
    /** The delivery's span on `POST /webhooks/{source}` while tracing is on (webhooks.ts). */
    trace: TraceSpan | undefined;
  };
}
