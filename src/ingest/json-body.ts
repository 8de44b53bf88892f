/**
 * A delivery's body as JSON: decoded as strict UTF-8, parsed, and refused past a nesting depth
 * before anything recurses into it; and the short excerpt of a refused body kept for operators.
 */

/** Deepest JSON nesting a signal may have; deeper bodies are refused before any recursion. */
const MAX_DEPTH = 32;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The parsed body, or why it is not one (not UTF-8, not JSON, too deep). */
export type ParsedBody = { ok: true; body: unknown } | { ok: false; error: string };

export function parseJsonBody(raw: Uint8Array): ParsedBody {
  let text: string;
  try {
    text = decoder.decode(raw);
  } catch {
    return { ok: false, error: 'body is not valid UTF-8' };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `body is not JSON: ${(err as Error).message}` };
  }
  return jsonDepth(body) > MAX_DEPTH ? { ok: false, error: `nesting deeper than ${MAX_DEPTH} levels` } : { ok: true, body };
}

/** Depth of nested arrays/objects, computed without recursion so no body can overflow the stack. */
function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === undefined) break;
    const [node, depth] = item;
    if (node !== null && typeof node === 'object') {
      const d = depth + 1;
      if (d > max) max = d;
      if (max > MAX_DEPTH) return max;
      for (const child of Object.values(node)) stack.push([child, d]);
    }
  }
  return max;
}

/** The first 512 characters of a value's JSON. */
export function excerptOf(value: unknown): string {
  const text = JSON.stringify(value) ?? '';
  return text.length > 512 ? `${text.slice(0, 509)}...` : text;
}
