/**
 * The gate on PostgreSQL: the signal's row lock, then its lane, then the connector lock, the gate
 * state in one statement, and the plan (planGate) written in the same transaction. Leases are
 * conditional updates; expired ones are split between claimers with SKIP LOCKED.
 */
import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm';
import { unionAll } from 'drizzle-orm/pg-core';
import type { StoredGateState } from '../../domain/gate-state.js';
import type { GateInput, GateOutcome, GateStore } from '../contract/gate.js';
import { GATE_COLUMNS, isGateable, RESERVATION_COLUMNS, LANE_BLOCKING_STATUSES, needsOpenOrder, planGate, planGateAdmission, planSettleFirst } from '../plans/gate.js';
import { breakerFromState, breakerKey, MODE_KEY, modeFromState, signalRecordFromRow as toRecord } from '../records.js';
import { ph, phs, phSqls } from '../placeholders.js';
import { applyBreakerPlan, toNumber, toNumberOrNull, type PgContext } from './context.js';
import { builder, rawStatement, run, runRaw, statement, type Tx } from './statements.js';
import * as t from './schema.js';

const { positions: p, reservations: r, pnlDays: d, signals: s, runtimeState: rs } = t;

/**
 * Everything the gate reads, in ONE statement: READ COMMITTED gives each statement one
 * snapshot, so a finish committing meanwhile (position booked, reservation released) is seen
 * either entirely or not at all, never as a position without its fill and without its
 * reservation. Gates of the connector are serialized by the caller's connector lock.
 */
const gateStateQuery = rawStatement(sql`
  select
    (select ${p.quantity} from ${p} where ${p.connector} = ${ph('connector')} and ${p.instrument} = ${ph('instrument')}) as position,
    (select ${p.last_price} from ${p} where ${p.connector} = ${ph('connector')} and ${p.instrument} = ${ph('instrument')}) as last_price,
    (select sum(abs(${p.quantity}) * coalesce(${p.last_price}, ${p.avg_price})) from ${p} where ${p.connector} = ${ph('connector')}) as gross,
    (select sum(${r.notional}) from ${r} where ${r.connector} = ${ph('connector')}) as reserved,
    (select sum(${r.notional}) from ${r} where ${r.connector} = ${ph('connector')} and ${r.instrument} = ${ph('instrument')}) as reserved_instrument,
    (select sum(${r.quantity}) from ${r} where ${r.connector} = ${ph('connector')} and ${r.instrument} = ${ph('instrument')}) as pending,
    (select ${d.realized} from ${d} where ${d.connector} = ${ph('connector')} and ${d.day} = ${ph('day')}) as realized,
    (select count(*) from (select 1 from ${s} where ${s.decided_at} >= ${ph('since')} and ${s.order_side} is not null limit ${ph('cap')}) as recent) as orders,
    (select ${rs.value} from ${rs} where ${rs.key} = ${MODE_KEY}) as mode,
    (select ${rs.value} from ${rs} where ${rs.key} = ${ph('breaker_key')}) as breaker
`);

const textOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);

async function loadGateState(tx: Tx, input: GateInput): Promise<{ state: StoredGateState; breaker: string | null }> {
  const { connector, instrument } = input;
  // Counts at most one past the cap: a busy minute costs no more than the limit needs.
  const cap = input.order_rate_cap === null ? 0 : input.order_rate_cap + 1;
  const [row] = await runRaw(gateStateQuery, tx, { connector, instrument, day: input.trading_day, since: input.now.getTime() - 60_000, cap, breaker_key: breakerKey(connector) });
  if (row === undefined) throw new Error('gate state query returned no row');
  return {
    state: {
      mode: modeFromState(textOrNull(row.mode))?.mode ?? 'enabled',
      position: toNumber(row.position),
      last_price: toNumberOrNull(row.last_price),
      gross_exposure: toNumber(row.gross),
      reserved_exposure: toNumber(row.reserved),
      reserved_instrument: toNumber(row.reserved_instrument),
      pending_quantity: toNumber(row.pending),
      realized_pnl_today: toNumber(row.realized),
      orders_last_minute: input.order_rate_cap === null ? 0 : toNumber(row.orders),
    },
    breaker: textOrNull(row.breaker),
  };
}

/** The oldest older signal of the lane in one status: one index range each, read oldest-first (see oldestInLane). */
const olderIn = (status: (typeof LANE_BLOCKING_STATUSES)[number]) =>
  builder
    .select({ id: s.id, seq: s.seq })
    .from(s)
    .where(and(eq(s.status, status), eq(s.connector, ph('connector')), eq(s.instrument, ph('instrument')), lt(s.seq, ph('seq'))))
    .orderBy(asc(s.seq))
    .limit(1);
const [first, second, ...others] = LANE_BLOCKING_STATUSES;

const q = {
  signalForUpdate: statement(builder.select().from(s).where(eq(s.id, ph('id'))).for('update').prepare('gate_signal')),
  olderInLane: statement(unionAll(olderIn(first), olderIn(second), ...others.map(olderIn)).orderBy(asc(s.seq)).limit(1).prepare('gate_older_in_lane')),
  openOrderInLane: statement(
    builder
      .select({ signal_id: t.orders.signal_id })
      .from(t.orders)
      .where(and(eq(t.orders.open, 1), eq(t.orders.connector, ph('connector')), eq(t.orders.instrument, ph('instrument'))))
      .limit(1)
      .prepare('gate_open_order'),
  ),
  update: statement(
    builder
      .update(s)
      .set(phSqls(...GATE_COLUMNS))
      .where(and(eq(s.id, ph('id')), eq(s.status, 'accepted')))
      .returning()
      .prepare('gate_update'),
  ),
  insertReservation: statement(builder.insert(r).values(phs(...RESERVATION_COLUMNS)).prepare('gate_reserve')),
};

export function pgGate(ctx: PgContext): GateStore {
  const { db, transact, reconnecting, locks } = ctx;
  return {
    gateSignal(input) {
      return transact(async (tx, emit): Promise<GateOutcome> => {
        // The signal row first: a second gate of the same signal (another worker or instance)
        // waits here, then finds it no longer accepted.
        const [row] = await run(q.signalForUpdate, tx, { id: input.signal_id });
        // Arrival order per lane: the oldest older signal of the lane accepted or executing goes first.
        const [older] = isGateable(row) ? await run(q.olderInLane, tx, { connector: input.connector, instrument: input.instrument, seq: row.seq }) : [];
        const admission = planGateAdmission(row, older);
        if (admission.kind !== 'gate') return admission;
        // Gates of one connector serialize from here to their commit (every instance), so the
        // state read next includes every reservation committed before, and ours is committed
        // before the next gate reads: two gates cannot both fit under room only one fits in.
        await locks.connector(tx, input.connector);
        const gate = await loadGateState(tx, input);
        // `decide` is pure and synchronous: evaluated against exactly the state just read.
        const plan = planGate(input, gate.state, breakerFromState(breakerKey(input.connector), gate.breaker));
        const [openOrder] = needsOpenOrder(input, plan) ? await run(q.openOrderInLane, tx, { connector: input.connector, instrument: input.instrument }) : [];
        const settleFirst = planSettleFirst(input, plan, openOrder);
        if (settleFirst !== null) return settleFirst;
        if (plan.breaker !== null) await applyBreakerPlan(tx, emit, input.connector, plan.breaker, input.now);
        const [updated] = await run(q.update, tx, { id: input.signal_id, ...plan.values });
        if (updated === undefined) throw new Error(`gateSignal: signal ${input.signal_id} changed while locked`);
        if (plan.reservation !== null) await run(q.insertReservation, tx, plan.reservation);
        emit(plan.event);
        const record = toRecord(updated);
        return plan.decision.allowed ? { kind: 'executing', record, decision: plan.decision } : { kind: 'rejected', record, decision: plan.decision };
      });
    },

    renewLeases(owner, signalIds, until) {
      return reconnecting(async () => {
        if (signalIds.length === 0) return 0;
        // One conditional UPDATE: a lease another instance claimed meanwhile is not ours any more.
        const rows = await db
          .update(t.signals)
          .set({ lease_until: until.getTime() })
          .where(and(inArray(t.signals.id, signalIds), eq(t.signals.lease_owner, owner), eq(t.signals.status, 'executing')))
          .returning({ seq: t.signals.seq });
        return rows.length;
      });
    },

    claimExpired(owner, now, leaseUntil, limit) {
      return transact(async (tx) => {
        const expired = and(eq(t.signals.status, 'executing'), lt(t.signals.lease_until, now.getTime()));
        // Concurrent claimers (any instance) split the expired rows: SKIP LOCKED passes over the
        // rows another claimer holds, and a row another claimer committed meanwhile is re-checked
        // against `expired` on its new version, so each expired signal is taken exactly once.
        // The locking SELECT is a statement of its own, not `UPDATE … WHERE seq IN (SELECT …
        // LIMIT n FOR UPDATE SKIP LOCKED)`: as a subquery it can be rescanned once per outer row,
        // and each rescan skips the rows this statement already updated and locks the next
        // ones, so the update claims more than `limit` rows.
        const locked = await tx
          .select({ seq: t.signals.seq })
          .from(t.signals)
          .where(expired)
          .orderBy(asc(t.signals.seq))
          .limit(limit)
          .for('update', { skipLocked: true });
        if (locked.length === 0) return [];
        const rows = await tx
          .update(t.signals)
          .set({ lease_owner: owner, lease_until: leaseUntil.getTime() })
          .where(inArray(t.signals.seq, locked.map((r) => r.seq)))
          .returning();
        return rows.sort((a, b) => a.seq - b.seq).map(toRecord);
      });
    },
  };
}
