/** The Hono environment: only request-scoped values live on the context. */
import type { Logger } from 'pino';

export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    /** Set by adminAuth: which operator token the request carries. */
    role: 'admin' | 'read';
  };
}
