/**
 * Runtime state on SQLite: mode, breakers, cursors (rows of `runtime_state`) and nonce reads. Mode
 * and breaker writes follow plans/runtime.ts; the writer job is their transaction.
 */
import { and, eq, like } from 'drizzle-orm';
import { initialBreaker } from '../../domain/breaker.js';
import type { RuntimeStore } from '../contract/runtime.js';
import { planBreakerStep, planInitMode, planModeWrite } from '../plans/runtime.js';
import { nonceLive } from '../plans/signals.js';
import { BREAKER_PREFIX, breakersFromRows, cursorFromState, cursorKey, DEFAULT_MODE } from '../records.js';
import { applyBreakerPlan, applyModePlan, DURABLE, readMode, readStoredBreaker, writeState, type SqliteContext } from './context.js';
import { ph } from '../placeholders.js';
import * as t from './schema.js';

export function sqliteRuntime(ctx: SqliteContext): RuntimeStore {
  const { db, writer } = ctx;
  // Every HMAC delivery asks for its nonce: prepared once, like the other hot-path statements.
  const q = {
    nonce: db
      .select({ expires_at: t.nonces.expires_at })
      .from(t.nonces)
      .where(and(eq(t.nonces.source, ph('source')), eq(t.nonces.nonce, ph('nonce'))))
      .prepare(),
  };
  return {
    async getMode() {
      return readMode(ctx) ?? DEFAULT_MODE;
    },

    setMode(mode, reason, actor, now) {
      return writer.run(() => applyModePlan(ctx, planModeWrite(readMode(ctx), mode, reason, actor, now), now), DURABLE);
    },

    initMode(mode, now) {
      return writer.run(() => applyModePlan(ctx, planInitMode(readMode(ctx), mode, now), now), DURABLE);
    },

    async getBreakers() {
      return breakersFromRows(db.select().from(t.runtimeState).where(like(t.runtimeState.key, `${BREAKER_PREFIX}%`)).all());
    },

    updateBreaker(connector, step, now, reason) {
      // Most steps (an answer on a healthy breaker) change nothing: decided on a read, with no
      // write job. Anything else is re-read and applied inside the writer.
      const stored = readStoredBreaker(ctx, connector);
      const preview = planBreakerStep(stored, step(stored ?? initialBreaker()), connector, reason, now);
      if (preview.write === null && preview.event === null) return Promise.resolve(preview.state);
      return writer.run(() => {
        const current = readStoredBreaker(ctx, connector);
        return applyBreakerPlan(ctx, connector, planBreakerStep(current, step(current ?? initialBreaker()), connector, reason, now), now);
      }, DURABLE);
    },

    async getCursor(name) {
      const key = cursorKey(name);
      return cursorFromState(key, ctx.q.state.get({ key })?.value ?? null);
    },

    setCursor(name, seq) {
      return writer.run(() => writeState(ctx, cursorKey(name), seq, ctx.now()));
    },

    async nonceSeen(source, nonce, now) {
      const row = q.nonce.get({ source, nonce });
      return row !== undefined && nonceLive(row.expires_at, now);
    },
  };
}
