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
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
  }
  // Like JSON.stringify, honour toJSON (a Date becomes its ISO string).
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((value as { toJSON: () => unknown }).toJSON());
  // Built by concatenation, not entries/filter/map/join: this runs for every event and every
  // delivery's fingerprint (about 1.5 times faster on an event's entry).
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i += 1) text += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  let text = '{';
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    text += `${text.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${text}}`;
}

export interface ChainEntry {
  seq: number;
  at: string;
  type: string;
  signal_id: string | null;
  data: Record<string, unknown>;
}

/**
 * An entry's hash, and its data as the row stores it: the data's canonical JSON, serialized once
 * for both. The entry's canonical JSON is assembled around it (its five keys in sorted order).
 */
export function chainEntry(prevHash: string, entry: ChainEntry): { hash: string; data: string } {
  const data = canonicalJson(entry.data);
  const text = `{"at":${JSON.stringify(entry.at)},"data":${data},"seq":${canonicalJson(entry.seq)},"signal_id":${canonicalJson(entry.signal_id)},"type":${JSON.stringify(entry.type)}}`;
  return { hash: createHash('sha256').update(prevHash).update(text).digest('hex'), data };
}

export function hashEntry(prevHash: string, entry: ChainEntry): string {
  return chainEntry(prevHash, entry).hash;
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
