#!/usr/bin/env node
/**
 * The `sluice` command (docs/configuration.md#commands): start, migrate, audit verify, replay, sign. Exit codes: 0 ok,
 * 1 a check failed (audit), 2 usage or configuration error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadConfig } from './config/load.js';
import { parseInvocation, USAGE } from './cli/usage.js';
import { startSluice, VERSION } from './main.js';
import { openStore } from './store/open.js';
import { sqlitePathFromUrl } from './store/sqlite/store.js';

async function main(argv: string[]): Promise<number> {
  const invocation = parseInvocation(argv);
  switch (invocation.kind) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case 'version':
      process.stdout.write(`sluice ${VERSION}\n`);
      return 0;
    case 'usage_error':
      // Each problem on its own line, then the usage: what is wrong first, the whole form after.
      process.stderr.write(`${invocation.problems.join('\n')}\n${USAGE}\n`);
      return 2;
    case 'run':
      break;
  }
  const { command, options } = invocation;
  const configPath = options.config;
  switch (command) {
    case 'start': {
      // Handlers first: a signal during start-up (recovery can take a while) still exits 0 —
      // everything acknowledged is in the database and recovered at the next start.
      let running: Awaited<ReturnType<typeof startSluice>> | null = null;
      const stop = (signal: string) => {
        if (running === null) process.exit(0);
        running.shutdown(signal).then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`sluice: shutdown: ${err instanceof Error ? err.message : String(err)}\n`);
            process.exit(0);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      running = await startSluice({ env: process.env, ...(configPath === undefined ? {} : { configPath }) });
      return -1; // keep running
    }
    case 'migrate': {
      const config = loadConfig(process.env, { configPath });
      const store = await openStore(config.database.url);
      await store.close();
      process.stdout.write('migrations applied\n');
      return 0;
    }
    case 'audit': {
      const config = loadConfig(process.env, { configPath });
      // Verifying a mistyped path must not create an empty database and call it intact.
      if (config.database.url.startsWith('file:') && !existsSync(sqlitePathFromUrl(config.database.url))) {
        process.stderr.write(`sluice: no database at ${sqlitePathFromUrl(config.database.url)}\n`);
        return 2;
      }
      const store = await openStore(config.database.url);
      const { verifyAuditChain } = await import('./ops/audit.js');
      const verdict = await verifyAuditChain(store);
      await store.close();
      if (verdict.ok) {
        process.stdout.write(`ok ${verdict.entries} entries, head ${verdict.head}\n`);
        return 0;
      }
      process.stdout.write(`broken at seq ${verdict.broken_at}\n`);
      return 1;
    }
    case 'replay': {
      const config = loadConfig(process.env, { configPath });
      const { replayCommand } = await import('./cli/replay.js');
      return replayCommand(config, options, { stdout: process.stdout, stderr: process.stderr });
    }
    case 'sign': {
      const { signHeaders } = await import('./cli/sign.js');
      const { scheme, secret, body } = options;
      if ((scheme !== 'standard-webhooks' && scheme !== 'hmac') || secret === undefined || body === undefined) return 2; // parseInvocation refused these
      let bytes: Buffer;
      try {
        bytes = readFileSync(body);
      } catch (err) {
        process.stderr.write(`sluice sign: --body ${JSON.stringify(body)} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): give the file holding the exact bytes to send\n`);
        return 2;
      }
      let headers: Record<string, string>;
      try {
        headers = signHeaders(scheme, secret, bytes, new Date());
      } catch (err) {
        process.stderr.write(`sluice sign: --secret: ${(err as Error).message}\n`);
        return 2;
      }
      for (const [name, value] of Object.entries(headers)) process.stdout.write(`${name}: ${value}\n`);
      return 0;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    // Errors go to stderr only: stdout may be redirected (e.g. `sluice sign … > headers`).
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`sluice: ${message}\n`);
    process.exitCode = 2;
  },
);
