/**
 * `sluice replay` (docs/configuration.md#sluice-replay): reads the store like `audit verify`
 * (no serving lock, so it runs beside a live sluice or on a copy of its database), builds no
 * connector that could be called, and prints the report: an aligned table, or JSON streamed a
 * page at a time with --json. A progress line goes to stderr only when stderr is a terminal.
 */
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { readCandidatePolicy } from '../config/candidate.js';
import type { Config } from '../config/load.js';
import { connectorCapabilities } from '../connectors/registry.js';
import { MOCK_CAPABILITIES } from '../connectors/mock.js';
import { runReplay, type ReplayRow } from '../ops/replay.js';
import { formatReport } from '../ops/replay-format.js';
import { checkReplayWindow } from '../ops/replay-window.js';
import { openStore } from '../store/open.js';
import { sqlitePathFromUrl } from '../store/sqlite/store.js';
import { createLogger } from '../telemetry/logger.js';

export interface ReplayIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** Writes and waits for the pipe to drain: 100k rows to a slow reader never pile up in memory. */
async function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

export async function replayCommand(config: Config, options: Record<string, string>, io: ReplayIo): Promise<number> {
  const fail = (problems: string[]): number => {
    io.stderr.write(`${problems.map((p) => `sluice replay: ${p}`).join('\n')}\n`);
    return 2;
  };
  const window = checkReplayWindow(options.from ?? '', options.to ?? '');
  if (!window.ok) return fail(window.problems.map((p) => `--${p.message}`));
  // A candidate's problems are the configuration's messages (ConfigError), exit 2 like a bad config.
  const candidate = options.policy === undefined ? null : readCandidatePolicy(options.policy, config.policy);
  if (config.database.url.startsWith('file:') && !existsSync(sqlitePathFromUrl(config.database.url))) {
    return fail([`no database at ${sqlitePathFromUrl(config.database.url)}`]);
  }
  const logger = createLogger('silent');
  const capabilities = await connectorCapabilities(config.connectors, { logger, now: () => new Date(), tradingDayTz: config.policy.trading_day_tz }, { testMode: config.test_mode });
  const store = await openStore(config.database.url);
  try {
    const json = options.json === 'true';
    const progress = io.stderr.isTTY === true;
    const rows: ReplayRow[] = [];
    let pending: string[] = [];
    let first = true;
    if (json) await write(io.stdout, '{"rows":[');
    const outcome = await runReplay(
      { store, capabilities: (name) => capabilities.get(name) ?? null, fallbackCapabilities: MOCK_CAPABILITIES },
      {
        from: window.from,
        to: window.to,
        ...(options.source === undefined ? {} : { source: options.source }),
        current: config.policy,
        candidate,
        onRow: (row) => {
          if (!json) rows.push(row);
          else {
            pending.push(`${first ? '' : ','}\n${JSON.stringify(row)}`);
            first = false;
          }
        },
        onPage: async (replayed) => {
          if (progress) io.stderr.write(`\rreplayed ${replayed} signals`);
          if (pending.length > 0) {
            const text = pending.join('');
            pending = [];
            await write(io.stdout, text);
          }
        },
      },
    );
    if (progress) io.stderr.write('\n');
    if (outcome.kind !== 'done') return fail([`the window holds more than ${outcome.limit} signals`]);
    const { summary } = outcome;
    if (json) await write(io.stdout, `\n],${JSON.stringify(summary).slice(1)}\n`);
    else await write(io.stdout, formatReport(summary, rows));
    return 0;
  } finally {
    await store.close();
  }
}
