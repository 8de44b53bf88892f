// The admin API with the operator's bearer token, and the event stream read from a fetch body
// (EventSource cannot send an Authorization header). The token lives in sessionStorage only:
// never in a URL, never in a cookie.
const KEY = 'sluice.token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, code, message, issues) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues ?? [];
  }
}

/** Called when the server refuses the token (401): the app signs out. */
let onRefused = () => {};
export function whenRefused(fn) {
  onRefused = fn;
}

/** One admin call; resolves with the JSON body of a 2xx, throws ApiError otherwise. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${token.get() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, cache: 'no-store', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch {
    throw new ApiError(0, 'network', 'sluice cannot be reached');
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (res.ok) return data;
  const error = data !== null && typeof data === 'object' && data.error ? data.error : {};
  const failure = new ApiError(res.status, error.code ?? 'http', error.message ?? `HTTP ${res.status}`, error.issues);
  if (res.status === 401) onRefused(failure);
  throw failure;
}

/** A refusal as one line: the code, the message and each issue. */
export function describe(err) {
  if (!(err instanceof ApiError)) return String(err instanceof Error ? err.message : err);
  const issues = err.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return `${err.code}: ${err.message}${issues ? ` (${issues})` : ''}`;
}

/** Splits a text/event-stream buffer into complete messages; returns them and the rest. */
export function parseFrames(buffer) {
  const messages = [];
  const text = buffer.replace(/\r\n/g, '\n');
  let start = 0;
  for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n', start)) {
    const block = text.slice(start, end);
    start = end + 2;
    let id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) messages.push({ id, data: data.join('\n') });
  }
  return { messages, rest: text.slice(start) };
}

/**
 * Follows GET /admin/events/stream: `onEvent(event)` per entry, `onState(connected, why)` when
 * the link changes. Reconnects with backoff, resuming after the last id seen (Last-Event-ID).
 * Returns a function that stops it.
 */
export function followEvents({ onEvent, onState }) {
  const controller = new AbortController();
  let lastId = null;
  const run = async () => {
    let delay = 1000;
    while (!controller.signal.aborted) {
      let why = 'connection lost';
      try {
        const headers = { authorization: `Bearer ${token.get() ?? ''}`, accept: 'text/event-stream' };
        if (lastId !== null) headers['last-event-id'] = lastId;
        const res = await fetch('/admin/events/stream', { headers, cache: 'no-store', signal: controller.signal });
        if (res.status === 401) {
          onRefused(new ApiError(401, 'unauthorized', 'token refused'));
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
        onState(true, null);
        delay = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const parsed = parseFrames(buffer + value);
          buffer = parsed.rest;
          for (const m of parsed.messages) {
            if (m.id !== null) lastId = m.id;
            try {
              onEvent(JSON.parse(m.data));
            } catch {
              // A message that is not an event is skipped; the stream goes on.
            }
          }
        }
        why = 'the stream ended';
      } catch (err) {
        if (controller.signal.aborted) return;
        why = err instanceof Error ? err.message : 'connection lost';
      }
      onState(false, why);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  };
  void run();
  return () => controller.abort();
}
