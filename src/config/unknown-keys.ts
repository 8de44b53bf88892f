/**
 * Every unknown key of a configuration value, with a "did you mean" for near misses. valibot's
 * strict objects stop at the first unknown key of each object; a newcomer should see all of them
 * in one start, so this walks the value along the schema's own shape (objects, optional and
 * nullable wrappers, arrays, records, variants, unions) and lists each one.
 */
import { didYouMean } from './did-you-mean.js';

/** The parts of a valibot schema this walk reads (valibot keeps them as plain properties). */
interface SchemaNode {
  type: string;
  entries?: Record<string, SchemaNode>;
  wrapped?: SchemaNode;
  item?: SchemaNode;
  value?: SchemaNode;
  options?: SchemaNode[];
  key?: unknown;
  literal?: unknown;
}

export interface UnknownKey {
  /** Dotted path of the key, as valibot names paths (`sources.tv.conector`). */
  path: string;
  suggestion: string | null;
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const join = (path: string, key: string | number): string => (path === '' ? String(key) : `${path}.${key}`);

export function findUnknownKeys(schema: unknown, value: unknown): UnknownKey[] {
  const out: UnknownKey[] = [];
  walk(schema as SchemaNode, value, '', out);
  return out;
}

function walk(schema: SchemaNode, value: unknown, path: string, out: UnknownKey[]): void {
  switch (schema.type) {
    case 'optional':
    case 'nullable':
    case 'nullish':
      if (schema.wrapped !== undefined && value !== undefined && value !== null) walk(schema.wrapped, value, path, out);
      return;
    case 'strict_object':
    case 'object': {
      if (!isRecord(value) || schema.entries === undefined) return;
      const known = Object.keys(schema.entries);
      for (const [key, item] of Object.entries(value)) {
        const entry = schema.entries[key];
        if (entry === undefined) {
          if (schema.type === 'strict_object') out.push({ path: join(path, key), suggestion: didYouMean(key, known) });
        } else {
          walk(entry, item, join(path, key), out);
        }
      }
      return;
    }
    case 'array':
      if (Array.isArray(value) && schema.item !== undefined) value.forEach((item, i) => walk(schema.item as SchemaNode, item, join(path, i), out));
      return;
    case 'record':
      if (isRecord(value) && schema.value !== undefined) for (const [key, item] of Object.entries(value)) walk(schema.value, item, join(path, key), out);
      return;
    case 'variant': {
      // The option whose discriminator matches; with none, the variant's own error says so.
      if (!isRecord(value) || typeof schema.key !== 'string') return;
      const discriminator = value[schema.key];
      const option = schema.options?.find((o) => o.entries?.[schema.key as string]?.literal === discriminator);
      if (option !== undefined) walk(option, value, path, out);
      return;
    }
    case 'union': {
      // Only an object can have unknown keys: walk the object option.
      const option = isRecord(value) ? schema.options?.find((o) => o.type === 'strict_object' || o.type === 'object') : undefined;
      if (option !== undefined) walk(option, value, path, out);
      return;
    }
    default:
      return;
  }
}

export function formatUnknownKey(k: UnknownKey): string {
  return k.suggestion === null ? `${k.path}: unknown key` : `${k.path}: unknown key (did you mean "${k.suggestion}"?)`;
}
