/**
 * Runtime state on PostgreSQL: mode (under the mode lock), breakers (under the connector lock),
 * cursors and nonce reads. Mode and breaker writes follow plans/runtime.ts.
 */
import { and, eq, like } from 'drizzle-orm';
import { initialBreaker } from '../../domain/breaker.js';
import type { RuntimeStore } from '../contract/runtime.js';
import { planBreakerStep, planInitMode, planModeWrite } from '../plans/runtime.js';
import { nonceLive } from '../plans/signals.js';
import { BREAKER_PREFIX, breakersFromRows, cursorFromState, cursorKey, DEFAULT_MODE } from '../records.js';
import { applyBreakerPlan, readMode, readState, readStoredBreaker, writeMode, writeState, type PgContext } from './context.js';
import * as t from './schema.js';

export function pgRuntime(ctx: PgContext): RuntimeStore {
  const { db, transact, reconnecting, locks } = ctx;
  return {
    getMode() {
      return reconnecting(async () => (await readMode(db)) ?? DEFAULT_MODE);
    },

    setMode(mode, reason, actor, now) {
      return transact((tx, emit) => writeMode(ctx, tx, emit, (current) => planModeWrite(current, mode, reason, actor, now), now));
    },

    initMode(mode, now) {
      return transact((tx, emit) => writeMode(ctx, tx, emit, (current) => planInitMode(current, mode, now), now));
    },

    getBreakers() {
      return reconnecting(async () => breakersFromRows(await db.select().from(t.runtimeState).where(like(t.runtimeState.key, `${BREAKER_PREFIX}%`))));
    },

    async updateBreaker(connector, step, now, reason) {
      // Most steps (an answer on a healthy breaker) change nothing: decided on a read, without the
      // connector lock every gate of the connector waits on (as on SQLite). The answer is the
      // breaker as of that read, a point at which the step was a no-op.
      const stored = await reconnecting(() => readStoredBreaker(db, connector));
      const preview = planBreakerStep(stored, step(stored ?? initialBreaker()), connector, reason, now);
      if (preview.write === null && preview.event === null) return preview.state;
      return transact(async (tx, emit) => {
        // Read-modify-write under the connector lock (the gate's, which may claim a probe):
        // concurrent failures of every instance are all counted.
        await locks.connector(tx, connector);
        const stored = await readStoredBreaker(tx, connector);
        return applyBreakerPlan(tx, emit, connector, planBreakerStep(stored, step(stored ?? initialBreaker()), connector, reason, now), now);
      });
    },

    getCursor(name) {
      return reconnecting(async () => {
        const key = cursorKey(name);
        return cursorFromState(key, await readState(db, key));
      });
    },

    setCursor(name, seq) {
      return reconnecting(() => writeState(db, cursorKey(name), seq, ctx.now()));
    },

    nonceSeen(source, nonce, now) {
      return reconnecting(async () => {
        const [row] = await db
          .select({ expires_at: t.nonces.expires_at })
          .from(t.nonces)
          .where(and(eq(t.nonces.source, source), eq(t.nonces.nonce, nonce)));
        return row !== undefined && nonceLive(row.expires_at, now);
      });
    },
  };
}
