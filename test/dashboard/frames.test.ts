/**
 * The dashboard's event-stream parser (src/dashboard/api.js `parseFrames`), a pure function: whole
 * messages out, the unfinished rest kept for the next chunk, comments and heartbeats skipped.
 */
import { describe, expect, test } from 'vitest';

type ParseFrames = (buffer: string) => { messages: Array<{ id: string | null; data: string }>; rest: string };
// A plain JS browser module: imported by a computed path, typed here by what the page relies on.
const modulePath = '../../src/dashboard/api.js';
const { parseFrames } = (await import(modulePath)) as { parseFrames: ParseFrames };

const CASES: Array<{ name: string; input: string; messages: Array<{ id: string | null; data: string }>; rest: string }> = [
  { name: 'one whole message', input: 'id: 3\ndata: {"seq":3}\n\n', messages: [{ id: '3', data: '{"seq":3}' }], rest: '' },
  { name: 'the opening comment and retry', input: ': sluice event stream\nretry: 2000\n\n', messages: [], rest: '' },
  { name: 'a heartbeat', input: ': ping\n\n', messages: [], rest: '' },
  { name: 'a message cut in the middle', input: 'id: 4\ndata: {"se', messages: [], rest: 'id: 4\ndata: {"se' },
  { name: 'two messages and half a third', input: 'id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\nda', messages: [{ id: '1', data: 'a' }, { id: '2', data: 'b' }], rest: 'id: 3\nda' },
  { name: 'CRLF line ends', input: 'id: 5\r\ndata: x\r\n\r\n', messages: [{ id: '5', data: 'x' }], rest: '' },
  { name: 'several data lines join with a newline', input: 'data: a\ndata: b\n\n', messages: [{ id: null, data: 'a\nb' }], rest: '' },
];

describe('parseFrames', () => {
  for (const c of CASES) {
    test(c.name, () => {
      expect(parseFrames(c.input)).toEqual({ messages: c.messages, rest: c.rest });
    });
  }
});
