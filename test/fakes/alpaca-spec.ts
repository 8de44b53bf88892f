/**
 * Alpaca's OpenAPI document (test/fixtures/alpaca/trading-api.json) as the fake's referee: the
 * operations it declares, and a check of a request (path, query, body, against their schemas)
 * and of an answer (against the response schema) for test/fakes/alpaca-server.ts. An order sent
 * on the fake's trade_updates stream is checked against the same Order schema, since Alpaca sends
 * the REST order object there.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/** Alpaca's published OpenAPI document, shipped with the tests (see test/fixtures/alpaca/README.md). */
const SPEC_PATH = new URL('../fixtures/alpaca/trading-api.json', import.meta.url);
const SPEC_ID = 'alpaca-trading-api.json';

export type Json = Record<string, unknown>;

export interface Operation {
  method: string;
  template: string;
  operationId: string;
  /** JSON pointer of the operation object inside the document. */
  pointer: string;
  op: Json;
  pathItem: Json;
  matcher: RegExp;
  paramNames: string[];
}

export const DECIMAL = /^-?\d+(\.\d+)?$/;

const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Json;
// ajv-formats is CommonJS with a default export; under NodeNext its namespace is what we get.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** OpenAPI 3.0 schemas carry `example`, `x-*`, `nullable`: strict mode off, `nullable` is understood by ajv. */
function createValidatorFactory(): (pointer: string) => ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('decimal', DECIMAL);
  ajv.addSchema(spec, SPEC_ID);
  const cache = new Map<string, ValidateFunction>();
  return (pointer) => {
    let v = cache.get(pointer);
    if (v === undefined) {
      v = ajv.compile({ $ref: `${SPEC_ID}#${pointer}` });
      cache.set(pointer, v);
    }
    return v;
  };
}

const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

function resolvePointer(pointer: string): unknown {
  let node: unknown = spec;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

export function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function loadOperations(): Operation[] {
  const ops: Operation[] = [];
  const paths = spec['paths'];
  if (!isJson(paths)) throw new Error('spec has no paths');
  for (const [template, item] of Object.entries(paths)) {
    if (!isJson(item)) continue;
    const paramNames: string[] = [];
    const pattern = template
      .split(/(\{[^}]+\})/)
      .map((part) => {
        const m = /^\{([^}]+)\}$/.exec(part);
        if (m?.[1] !== undefined) {
          paramNames.push(m[1]);
          return '([^/]+)';
        }
        return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!isJson(op)) continue;
      ops.push({
        method,
        template,
        operationId: typeof op['operationId'] === 'string' ? op['operationId'] : `${method} ${template}`,
        pointer: `/paths/${escapePointer(template)}/${method}`,
        op,
        pathItem: item,
        matcher: new RegExp(`^${pattern}$`),
        paramNames,
      });
    }
  }
  // Literal paths before templated ones, so /v2/orders:by_client_order_id never reads as an id.
  return ops.sort((a, b) => a.paramNames.length - b.paramNames.length);
}

interface ParamSpec {
  name: string;
  in: string;
  required: boolean;
  schemaPointer: string;
  type: string | undefined;
}

/** The operation's parameters (path-level and operation-level, $refs resolved) with schema pointers. */
function parametersOf(op: Operation): ParamSpec[] {
  const out = new Map<string, ParamSpec>();
  const collect = (list: unknown, base: string): void => {
    if (!Array.isArray(list)) return;
    list.forEach((entry: unknown, i) => {
      let pointer = `${base}/${i}`;
      let p: unknown = entry;
      if (isJson(entry) && typeof entry['$ref'] === 'string' && entry['$ref'].startsWith('#')) {
        pointer = entry['$ref'].slice(1);
        p = resolvePointer(pointer);
      }
      if (!isJson(p) || typeof p['name'] !== 'string' || typeof p['in'] !== 'string') return;
      const schema = p['schema'];
      out.set(`${p['in']}:${p['name']}`, {
        name: p['name'],
        in: p['in'],
        required: p['required'] === true,
        schemaPointer: `${pointer}/schema`,
        type: isJson(schema) && typeof schema['type'] === 'string' ? schema['type'] : undefined,
      });
    });
  };
  collect(op.pathItem['parameters'], `/paths/${escapePointer(op.template)}/parameters`);
  collect(op.op['parameters'], `${op.pointer}/parameters`);
  return [...out.values()];
}

/** Query strings carry text: coerce to the schema's type before validating, as a server would. */
function coerce(values: string[], type: string | undefined): unknown {
  const one = values[0] ?? '';
  switch (type) {
    case 'array':
      return values.flatMap((v) => v.split(','));
    case 'integer':
      return /^-?\d+$/.test(one) ? Number(one) : one;
    case 'number':
      return one !== '' && Number.isFinite(Number(one)) ? Number(one) : one;
    case 'boolean':
      return one === 'true' ? true : one === 'false' ? false : one;
    default:
      return one;
  }
}

export interface SpecChecker {
  /** Checks one request against the document: the problem, or none, and the parsed body. */
  request(op: Operation, pathParams: Record<string, string>, query: URLSearchParams, raw: string, contentType: string | null): { problem?: string; body: unknown };
  /** A 2xx answer against the operation's response schema: the problem, or undefined. */
  response(op: Operation, status: number, body: unknown): string | undefined;
  /** An order object against the document's Order schema: the problem, or undefined. */
  order(json: unknown): string | undefined;
}

export function createSpecChecker(): SpecChecker {
  const validator = createValidatorFactory();
  return {
    request(op, pathParams, query, raw, contentType) {
      const params = parametersOf(op);
      for (const p of params.filter((x) => x.in === 'path')) {
        const v = validator(p.schemaPointer);
        if (!v(pathParams[p.name])) return { problem: `path parameter ${p.name}: ${errorsText(v)}`, body: null };
      }
      const queryParams = params.filter((x) => x.in === 'query');
      for (const key of new Set(query.keys())) {
        if (!queryParams.some((p) => p.name === key)) return { problem: `unknown query parameter ${key}`, body: null };
      }
      for (const p of queryParams) {
        const values = query.getAll(p.name);
        if (values.length === 0) {
          if (p.required) return { problem: `query parameter ${p.name} is required`, body: null };
          continue;
        }
        if (values.length > 1 && p.type !== 'array') return { problem: `query parameter ${p.name} given twice`, body: null };
        const v = validator(p.schemaPointer);
        if (!v(coerce(values, p.type))) return { problem: `query parameter ${p.name}: ${errorsText(v)}`, body: null };
      }

      const requestBody = op.op['requestBody'];
      if (!isJson(requestBody)) {
        return raw === '' ? { body: null } : { problem: `${op.method.toUpperCase()} ${op.template} takes no body`, body: null };
      }
      if (raw === '') return requestBody['required'] === true ? { problem: 'a JSON body is required', body: null } : { body: null };
      if (contentType === null || !contentType.toLowerCase().startsWith('application/json')) {
        return { problem: `content-type must be application/json, got ${String(contentType)}`, body: raw };
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw) as unknown;
      } catch {
        return { problem: 'body is not JSON', body: raw };
      }
      const v = validator(`${op.pointer}/requestBody/content/application~1json/schema`);
      if (!v(parsed)) return { problem: `body: ${errorsText(v)}`, body: parsed };
      return { body: parsed };
    },
    response(op, status, body) {
      if (status < 200 || status >= 300 || body === undefined) return undefined;
      const pointer = `${op.pointer}/responses/${status}/content/application~1json/schema`;
      if (resolvePointer(pointer) === undefined) return undefined;
      const v = validator(pointer);
      return v(body) ? undefined : errorsText(v);
    },
    order(json) {
      const v = validator('/components/schemas/Order');
      return v(json) ? undefined : errorsText(v);
    },
  };
}

function errorsText(v: ValidateFunction): string {
  return (v.errors ?? []).map((e) => `${e.instancePath === '' ? '(root)' : e.instancePath} ${e.message ?? 'is invalid'}`).join('; ');
}
