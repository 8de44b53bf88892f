/**
 * One spool line: its shape on disk and its check when read back (a file on disk is input like
 * any other), apart from the spool's file handling in spool.ts.
 */
import * as v from 'valibot';
import type { NewSignal } from '../store/store.js';
import { TRACEPARENT } from '../telemetry/tracing.js';
import { parseNativeSignal } from './formats/native.js';

/** One spooled delivery: the store input exactly as ingest built it (dates as ISO strings). */
export interface SpoolLine extends Omit<NewSignal, 'received_at'> {
  delivery_id: string;
  received_at: string;
}

const nonEmpty = v.pipe(v.string(), v.minLength(1));
/** A spooled line read back: the store input, with the signal checked by the one native schema. */
const spoolLineSchema = v.object({
  delivery_id: nonEmpty,
  signal_id: nonEmpty,
  source: nonEmpty,
  idempotency_key: nonEmpty,
  key_kind: v.picklist(['explicit', 'body_hash']),
  window_ms: v.pipe(v.number(), v.integer(), v.minValue(0)),
  fingerprint: nonEmpty,
  connector: nonEmpty,
  instrument: nonEmpty,
  client_order_id: nonEmpty,
  signal: v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const parsed = parseNativeSignal(dataset.value);
      if (parsed.ok) return parsed.signal;
      for (const issue of parsed.issues) addIssue({ message: `${issue.path}: ${issue.message}` });
      return NEVER;
    }),
  ),
  request_id: nonEmpty,
  received_at: v.pipe(
    v.string(),
    v.check((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO time'),
    v.transform((s) => new Date(s)),
  ),
  // The delivery's span context, so that a spooled signal's execution continues its trace; a
  // malformed one is dropped (null), never a reason to quarantine the delivery.
  trace_parent: v.optional(v.fallback(v.nullable(v.pipe(v.string(), v.regex(TRACEPARENT))), null)),
});

type ParsedLine = { ok: true; input: NewSignal } | { ok: false; reason: string };

/** Parses and checks one spooled line; never throws. */
export function parseSpoolLine(raw: string): ParsedLine {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = v.safeParse(spoolLineSchema, json);
  if (!parsed.success) {
    return { ok: false, reason: parsed.issues.map((i) => `${v.getDotPath(i) ?? ''}: ${i.message}`).join('; ') };
  }
  const { delivery_id: _id, ...input } = parsed.output;
  return { ok: true, input };
}

/** The source and request id of a line, where it still has them (for a refused delivery). */
export function lineFields(raw: string): { source?: string; request_id?: string } {
  try {
    const json = JSON.parse(raw) as unknown;
    if (json === null || typeof json !== 'object') return {};
    const { source, request_id } = json as Record<string, unknown>;
    return { ...(typeof source === 'string' ? { source } : {}), ...(typeof request_id === 'string' ? { request_id } : {}) };
  } catch {
    return {};
  }
}
