/**
 * The event log's hash chain (docs/guarantees.md#event-log): `hash = sha256(prev_hash + canonical JSON of the
 * entry)`, where the entry is `{seq, at, type, signal_id, data}` and canonical JSON sorts keys
 * and has no whitespace. Both store dialects and `audit verify` use these functions, so a chain
 * written by one is verified the same way by the other.
 */
import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with keys sorted at every depth and no whitespace; `undefined` members are dropped. */
export function canonicalJson(value: unknown): string {
  // Like JSON.stringify (which is how rows are stored), honour toJSON (a Date becomes its ISO string).
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON: () => unknown }).toJSON());
  }
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, item]) => `${JSON.stringify(k)}:${canonicalJson(item)}`).join(',')}}`;
}

export interface ChainEntry {
  seq: number;
  at: string;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
}

export function hashEntry(prevHash: string, entry: ChainEntry): string {
  return createHash('sha256')
    .update(prevHash)
    .update(canonicalJson({ seq: entry.seq, at: entry.at, type: entry.type, signal_id: entry.signal_id, data: entry.data }))
    .digest('hex');
}

export type ChainVerdict = { ok: true; entries: number; head: string } | { ok: false; broken_at: number };

/**
 * Walks entries in seq order. A changed row breaks its own hash; a removed row breaks the
 * next one's prev_hash or leaves a gap in seq; both are reported at the first bad seq.
 */
export function createChainVerifier() {
  let expectedSeq = 1;
  let prev = GENESIS_HASH;
  let count = 0;
  return {
    push(row: ChainEntry & { prev_hash: string; hash: string }): ChainVerdict | null {
      if (row.seq !== expectedSeq || row.prev_hash !== prev || hashEntry(prev, row) !== row.hash) {
        return { ok: false, broken_at: row.seq !== expectedSeq ? expectedSeq : row.seq };
      }
      expectedSeq += 1;
      prev = row.hash;
      count += 1;
      return null;
    },
    finish(): ChainVerdict {
      return { ok: true, entries: count, head: prev };
    },
  };
}
