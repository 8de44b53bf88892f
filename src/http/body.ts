/** Reading request bodies: the raw bytes exactly once, never past the limit. */
import * as v from 'valibot';
import type { ValidationIssue } from '../domain/types.js';
import type { BodyRead } from '../ingest/ingest.js';
import { AppError } from './errors.js';

/**
 * The raw body, or `too_large` as soon as it passes `limit` bytes: a declared Content-Length
 * over the limit is refused before reading, and a chunked body is counted while it streams so
 * nothing past the limit is buffered. A client that hangs up mid-upload is `aborted`; any other
 * failure while reading is a bug and throws.
 */
export async function readBodyLimited(req: Request, limit: number): Promise<BodyRead> {
  try {
    return await readLimited(req, limit);
  } catch (err) {
    if (isClientAbort(err)) return { kind: 'aborted' };
    throw err;
  }
}

/** Node's `aborted` (ECONNRESET) when the client closed the connection, or a web AbortError. */
export function isClientAbort(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (err as NodeJS.ErrnoException).code === 'ECONNRESET' || err.name === 'AbortError';
}

async function readLimited(req: Request, limit: number): Promise<BodyRead> {
  const tooLarge: BodyRead = { kind: 'too_large', limit_bytes: limit };
  const declared = req.headers.get('content-length');
  if (declared !== null) {
    if (Number(declared) > limit) return tooLarge;
    // HTTP framing guarantees exactly Content-Length bytes: read them in one go. (Touching
    // `req.body` first would make @hono/node-server build a full web Request and lose its
    // fast path, which costs more than everything else a delivery does.)
    return { kind: 'read', bytes: new Uint8Array(await req.arrayBuffer()) };
  }
  if (req.body === null) return { kind: 'read', bytes: new Uint8Array(0) };
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return tooLarge;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { kind: 'read', bytes: out };
}

/** Parses a JSON request body against a valibot schema, or throws 400 invalid_request with issues. */
export async function parseJsonBody<S extends v.GenericSchema>(req: Request, schema: S): Promise<v.InferOutput<S>> {
  let body: unknown;
  try {
    const text = await req.text();
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new AppError('invalid_request', 'the body is not JSON', { issues: [{ path: '', message: 'expected a JSON object' }] });
  }
  return parseInput(schema, body);
}

export function parseInput<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const parsed = v.safeParse(schema, input);
  if (!parsed.success) {
    const issues: ValidationIssue[] = parsed.issues.map((i) => ({ path: v.getDotPath(i) ?? '', message: i.message }));
    throw new AppError('invalid_request', 'the request is not valid', { issues });
  }
  return parsed.output;
}
