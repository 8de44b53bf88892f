/**
 * `POST /admin/replay` (docs/http-api.md#replay): what the gate would have decided for a window
 * of recorded signals, under the current policy and a candidate. It changes nothing, so the
 * read-only token may run it (the one POST adminAuth lets it make). The window is bounded so one
 * request cannot exhaust the process: at most HTTP_REPLAY_MAX_DAYS days and
 * HTTP_REPLAY_MAX_SIGNALS signals (`replay_window_too_large`); longer windows are `sluice replay`'s.
 */
import { Hono } from 'hono';
import * as v from 'valibot';
import { candidatePolicy } from '../config/candidate.js';
import { ConfigError } from '../config/load.js';
import type { PolicyConfig } from '../config/schema.js';
import { MOCK_CAPABILITIES } from '../connectors/mock.js';
import type { Deps } from '../deps.js';
import { runReplay, type ReplayRow } from '../ops/replay.js';
import { checkReplayWindow, HTTP_REPLAY_MAX_DAYS, HTTP_REPLAY_MAX_SIGNALS } from '../ops/replay-window.js';
import { parseJsonBody } from './body.js';
import type { AppEnv } from './context.js';
import { AppError } from './errors.js';

export const REPLAY_PATH = '/admin/replay';

export const replayBody = v.strictObject(
  {
    from: v.string('expected an ISO-8601 time with a zone or a date'),
    to: v.string('expected an ISO-8601 time with a zone or a date'),
    source: v.optional(v.pipe(v.string('expected a source name'), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a source name'))),
    /** The `policy:` block of a config file, as JSON: its keys replace the current policy's. */
    policy: v.optional(v.record(v.string(), v.unknown(), 'expected an object of policy keys')),
  },
  'expected an object with from, to and optionally source and policy',
);

const DAY_MS = 86_400_000;

/** The problems of a ConfigError as request issues: `policy.max_order_notional: expected …`. */
function policyIssues(err: ConfigError): Array<{ path: string; message: string }> {
  return err.problems.map((problem) => ({ path: problem.slice(0, Math.max(0, problem.indexOf(':'))), message: problem }));
}

export function replayRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/replay', async (c) => {
    const body = await parseJsonBody(c.req.raw, replayBody);
    const window = checkReplayWindow(body.from, body.to);
    if (!window.ok) throw new AppError('invalid_request', 'the window is not valid', { issues: window.problems.map((p) => ({ path: p.field, message: p.message })) });
    const days = (window.to.getTime() - window.from.getTime()) / DAY_MS;
    if (days > HTTP_REPLAY_MAX_DAYS) {
      throw new AppError('replay_window_too_large', `the window spans ${days.toFixed(2)} days; at most ${HTTP_REPLAY_MAX_DAYS} days per request (sluice replay has no bound)`, {
        details: { limit_days: HTTP_REPLAY_MAX_DAYS, limit_signals: HTTP_REPLAY_MAX_SIGNALS },
      });
    }
    let candidate: PolicyConfig | null = null;
    try {
      candidate = body.policy === undefined ? null : candidatePolicy({ policy: body.policy }, deps.config.policy);
    } catch (err) {
      if (err instanceof ConfigError) throw new AppError('invalid_request', 'the candidate policy is not valid', { issues: policyIssues(err) });
      throw err;
    }
    const rows: ReplayRow[] = [];
    const outcome = await runReplay(
      { store: deps.store, capabilities: (name) => deps.connectors.get(name)?.capabilities ?? null, fallbackCapabilities: MOCK_CAPABILITIES },
      {
        from: window.from,
        to: window.to,
        ...(body.source === undefined ? {} : { source: body.source }),
        current: deps.config.policy,
        candidate,
        maxSignals: HTTP_REPLAY_MAX_SIGNALS,
        onRow: (row) => rows.push(row),
        // A page at a time, then the live work gets the event loop back.
        onPage: () => new Promise<void>((resolve) => setImmediate(resolve)),
      },
    );
    if (outcome.kind === 'too_many_signals') {
      throw new AppError('replay_window_too_large', `the window holds more than ${outcome.limit} signals; at most ${outcome.limit} per request (narrow it, or use sluice replay)`, {
        details: { limit_days: HTTP_REPLAY_MAX_DAYS, limit_signals: HTTP_REPLAY_MAX_SIGNALS },
      });
    }
    return c.json({ ...outcome.summary, rows });
  });
  return app;
}
