/**
 * The `sinks:` section (docs/configuration.md#sinks): where the event log is fanned out, at least
 * once. One type for now, `nats` (a JetStream stream). Defaults live here; the checks across
 * fields and sinks that valibot's per-key messages cannot say are `sinkProblems`.
 */
import * as v from 'valibot';
import { expected, nonEmptyString, obj, positiveInt, show } from './primitives.js';

/** A server URL as a message may show it: whatever comes before an `@` (credentials) is `***`. */
export function showServerUrl(input: unknown): string {
  return typeof input === 'string' ? show(input.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^@/]*@/, '$1***@')) : show(input);
}
const expectedUrl = (what: string) => (issue: { input: unknown }) => `expected ${what}, got ${showServerUrl(issue.input)}`;

/** nats:// or tls://, host and port, nothing else: credentials go in `user`/`password` or `token`. */
export function isNatsServerUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'nats:' || u.protocol === 'tls:') && u.hostname !== '' && u.username === '' && u.password === '' && (u.pathname === '' || u.pathname === '/') && u.search === '' && u.hash === '';
  } catch {
    return false;
  }
}
const SERVER_URL = 'a nats:// or tls:// URL of host and port, without credentials (set user and password, or token)';
const serverUrl = v.pipe(v.string(expectedUrl(SERVER_URL)), v.check(isNatsServerUrl, expectedUrl(SERVER_URL)));

/** NATS advises letters, digits, `-` and `_` for stream names (no `.`, `*`, `>`, space or path separator). */
const streamName = v.pipe(v.string(expected('a stream name')), v.regex(/^[A-Za-z0-9_-]{1,255}$/, expected('a stream name of 1-255 letters, digits, "_" or "-"')));
/** Subject tokens of letters, digits, `-` and `_`, joined by dots (no wildcards). */
const subjectPrefix = v.pipe(
  v.string(expected('a subject prefix')),
  v.regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, expected('a subject prefix of dot-separated tokens of letters, digits, "_" or "-" (no wildcards)')),
);

const nats = obj({
  type: v.literal('nats'),
  /** One server or a list (a cluster's seeds). */
  url: v.optional(
    v.union([serverUrl, v.pipe(v.array(serverUrl), v.minLength(1, expected('at least one server URL')))], expectedUrl(`${SERVER_URL}, or a list of them`)),
    'nats://127.0.0.1:4222',
  ),
  user: v.optional(nonEmptyString),
  password: v.optional(nonEmptyString),
  token: v.optional(nonEmptyString),
  stream: v.optional(streamName, 'SLUICE'),
  subject_prefix: v.optional(subjectPrefix, 'sluice'),
  /** How long one publish waits for JetStream's ack (and one connection attempt). */
  timeout_ms: v.optional(positiveInt, 5_000),
  backoff: v.optional(obj({ base_ms: v.optional(positiveInt, 500), cap_ms: v.optional(positiveInt, 30_000) }), {}),
  // Used only when sluice creates the stream; an existing stream is used as it is.
  max_age_seconds: v.optional(positiveInt, 7 * 86_400),
  max_bytes: v.optional(positiveInt, 1024 * 1024 * 1024),
  duplicate_window_seconds: v.optional(positiveInt, 120),
});

export const sinkSchema = v.variant('type', [nats], expected('a sink type: nats'));
export const sinksSchema = v.array(sinkSchema, expected('a list of sinks'));

export type SinkConfig = v.InferOutput<typeof sinkSchema>;
export type NatsSinkConfig = Extract<SinkConfig, { type: 'nats' }>;

/** The sink's name: its offset is `sink:<name>`, its degraded component `sink:<name>`, its metric label `<name>`. */
export const sinkName = (sink: SinkConfig): string => `${sink.type}:${sink.stream}`;

/** What valibot's per-key checks cannot see: fields that go together, and sinks that would share an offset. */
export function sinkProblems(sinks: readonly SinkConfig[]): string[] {
  const problems: string[] = [];
  const names = new Map<string, number>();
  sinks.forEach((sink, i) => {
    const at = `sinks.${i}`;
    if ((sink.user === undefined) !== (sink.password === undefined)) {
      problems.push(`${at}.${sink.user === undefined ? 'user' : 'password'}: expected user and password together, got only ${sink.user === undefined ? 'password' : 'user'}`);
    }
    if (sink.token !== undefined && sink.user !== undefined) problems.push(`${at}.token: expected either token or user and password, got both`);
    if (sink.duplicate_window_seconds > sink.max_age_seconds) {
      problems.push(`${at}.duplicate_window_seconds: expected at most max_age_seconds (${sink.max_age_seconds}), got ${sink.duplicate_window_seconds}`);
    }
    const name = sinkName(sink);
    const other = names.get(name);
    if (other !== undefined) problems.push(`${at}.stream: expected a stream no other sink uses (sinks.${other} publishes to ${JSON.stringify(sink.stream)}), got ${JSON.stringify(sink.stream)}`);
    else names.set(name, i);
  });
  return problems;
}
