/**
 * The `sluice` command line (docs/configuration.md#commands): parseInvocation as a table (every
 * missing, unknown or malformed piece named, with near misses), and the built CLI's --version and
 * `sluice sign` explanations end to end. The CLI part needs `npm run build` first (as `npm test` does).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseInvocation, type Invocation } from '../../src/cli/usage.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

describe('parseInvocation', () => {
  const run = (command: string, options: Record<string, string> = {}, sub?: string): Invocation => ({ kind: 'run', command: command as 'start', sub, options });
  const cases: Array<{ argv: string[]; want: Invocation }> = [
    { argv: ['start'], want: run('start') },
    { argv: ['start', '--config', 'x.yaml'], want: run('start', { config: 'x.yaml' }) },
    { argv: ['start', '--config=x.yaml'], want: run('start', { config: 'x.yaml' }) },
    { argv: ['audit', 'verify'], want: run('audit', {}, 'verify') },
    { argv: ['sign', '--scheme', 'hmac', '--secret', 's', '--body', 'b.json'], want: run('sign', { scheme: 'hmac', secret: 's', body: 'b.json' }) },
    { argv: ['replay', '--from', '2026-03-10', '--to', '2026-03-11'], want: run('replay', { from: '2026-03-10', to: '2026-03-11' }) },
    {
      argv: ['replay', '--from', '2026-03-10T14:00:00Z', '--to=2026-03-11', '--policy', 'p.yaml', '--source', 'tv', '--json', '--config', 'c.yaml'],
      want: run('replay', { from: '2026-03-10T14:00:00Z', to: '2026-03-11', policy: 'p.yaml', source: 'tv', json: 'true', config: 'c.yaml' }),
    },
    {
      argv: ['replay', '--to', '2026-03-11', '--json=yes'],
      want: {
        kind: 'usage_error',
        problems: ['sluice replay: --json takes no value, got "yes"', 'sluice replay: --from is missing: the start of the window, an ISO-8601 time with a zone or a date (inclusive)'],
      },
    },
    { argv: ['replay', '--from', '--to', 'x'], want: { kind: 'usage_error', problems: ['sluice replay: --from needs a value: the start of the window, an ISO-8601 time with a zone or a date (inclusive)'] } },
    { argv: ['start', '--json'], want: { kind: 'usage_error', problems: ['sluice start: unknown option --json; it takes --config'] } },
    { argv: ['--version'], want: { kind: 'version' } },
    { argv: ['-v'], want: { kind: 'version' } },
    { argv: ['start', '--version'], want: { kind: 'version' } },
    { argv: ['--help'], want: { kind: 'help' } },
    { argv: ['sign', '-h'], want: { kind: 'help' } },
    { argv: [], want: { kind: 'usage_error', problems: ['sluice: no command given'] } },
    { argv: ['strat'], want: { kind: 'usage_error', problems: ['sluice: unknown command "strat" (did you mean "start"?): expected one of start, migrate, audit, replay, sign'] } },
    { argv: ['frobnicate'], want: { kind: 'usage_error', problems: ['sluice: unknown command "frobnicate": expected one of start, migrate, audit, replay, sign'] } },
    { argv: ['audit'], want: { kind: 'usage_error', problems: ['sluice audit: expected the subcommand "verify"'] } },
    { argv: ['audit', 'verfy'], want: { kind: 'usage_error', problems: ['sluice audit: expected the subcommand "verify", got "verfy"'] } },
    { argv: ['start', 'now'], want: { kind: 'usage_error', problems: ['sluice start: unexpected argument "now"'] } },
    { argv: ['start', '--conifg', 'x'], want: { kind: 'usage_error', problems: ['sluice start: unexpected argument "x"', 'sluice start: unknown option --conifg (did you mean --config?); it takes --config'] } },
    { argv: ['start', '--config'], want: { kind: 'usage_error', problems: ['sluice start: --config needs a value: the path of a YAML or JSON config file'] } },
    { argv: ['migrate', '--secret', 'x'], want: { kind: 'usage_error', problems: ['sluice migrate: unknown option --secret; it takes --config'] } },
    {
      argv: ['sign'],
      want: {
        kind: 'usage_error',
        problems: [
          'sluice sign: --scheme is missing: standard-webhooks or hmac',
          "sluice sign: --secret is missing: the source's secret (whsec_<base64> for standard-webhooks)",
          'sluice sign: --body is missing: the file holding the exact bytes that will be sent',
        ],
      },
    },
    {
      argv: ['sign', '--scheme', 'stripe', '--secret', '--body', 'b.json'],
      want: {
        kind: 'usage_error',
        problems: [
          "sluice sign: --secret needs a value: the source's secret (whsec_<base64> for standard-webhooks)",
          'sluice sign: --scheme "stripe" is not supported: expected standard-webhooks or hmac (the schemes whose headers a sender computes)',
        ],
      },
    },
    {
      argv: ['sign', '--scheme', 'hmac', '--secret', 's', '--bdy', 'b.json'],
      want: {
        kind: 'usage_error',
        problems: [
          'sluice sign: unexpected argument "b.json"',
          'sluice sign: unknown option --bdy (did you mean --body?); it takes --scheme, --secret, --body',
          'sluice sign: --body is missing: the file holding the exact bytes that will be sent',
        ],
      },
    },
  ];
  test.each(cases)('$argv', ({ argv, want }) => {
    expect(parseInvocation(argv)).toEqual(want);
  });
});

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 15_000, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describe('the built CLI', () => {
  test('--version prints the package version and exits 0', async () => {
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `sluice ${VERSION}\n`, stderr: '' });
  });

  test('sluice sign with nothing names each missing option on stderr, then the usage; exit 2', async () => {
    const out = await runCli(['sign']);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    const lines = out.stderr.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'sluice sign: --scheme is missing: standard-webhooks or hmac',
      "sluice sign: --secret is missing: the source's secret (whsec_<base64> for standard-webhooks)",
      'sluice sign: --body is missing: the file holding the exact bytes that will be sent',
    ]);
    expect(lines[3]).toBe('usage:');
  });

  test('a body file that cannot be read and a secret that is not whsec_ are explained', async () => {
    const missing = await runCli(['sign', '--scheme', 'hmac', '--secret', 's', '--body', '/nonexistent/body.json']);
    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toBe('sluice sign: --body "/nonexistent/body.json" cannot be read (ENOENT): give the file holding the exact bytes to send\n');
    const badSecret = await runCli(['sign', '--scheme', 'standard-webhooks', '--secret', 'not-whsec', '--body', join(import.meta.dirname, '..', '..', 'package.json')]);
    expect(badSecret).toMatchObject({ code: 2, stdout: '' });
    expect(badSecret.stderr).toMatch(/^sluice sign: --secret: the secret is not a standard-webhooks secret "whsec_<base64 key>"\n$/);
  });
});
