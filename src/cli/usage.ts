/**
 * The `sluice` command line, checked before anything runs: every unknown command or option and
 * every missing or malformed value is named with what was expected (and a near miss with what was
 * probably meant), instead of printing the usage alone.
 */
import { parseArgs } from 'node:util';
import { didYouMean } from '../config/did-you-mean.js';

export const COMMANDS = ['start', 'migrate', 'audit', 'replay', 'sign'] as const;
export type Command = (typeof COMMANDS)[number];

export const USAGE = `usage:
  sluice start [--config FILE]
  sluice migrate [--config FILE]
  sluice audit verify [--config FILE]
  sluice replay --from TIME --to TIME [--policy FILE] [--source S] [--json] [--config FILE]
  sluice sign --scheme standard-webhooks|hmac --secret S --body FILE
  sluice --version | --help`;

/** What each string option of each command holds, for the message that it is missing or empty. */
const OPTIONS: Record<Command, Record<string, string>> = {
  start: { config: 'the path of a YAML or JSON config file' },
  migrate: { config: 'the path of a YAML or JSON config file' },
  audit: { config: 'the path of a YAML or JSON config file' },
  replay: {
    config: 'the path of a YAML or JSON config file',
    from: 'the start of the window, an ISO-8601 time with a zone or a date (inclusive)',
    to: 'the end of the window, an ISO-8601 time with a zone or a date (exclusive)',
    policy: 'the path of a YAML or JSON file with a policy: block (the candidate)',
    source: 'the name of the source whose signals are replayed',
    json: '',
  },
  sign: {
    scheme: 'standard-webhooks or hmac',
    secret: "the source's secret (whsec_<base64> for standard-webhooks)",
    body: 'the file holding the exact bytes that will be sent',
  },
};
const REQUIRED: Record<Command, readonly string[]> = { start: [], migrate: [], audit: [], replay: ['from', 'to'], sign: ['scheme', 'secret', 'body'] };
/** Options that are flags: present or not, never given a value (their value is "true"). */
const BOOLEAN_OPTIONS = new Set(['json']);
const SIGN_SCHEMES = ['standard-webhooks', 'hmac'] as const;
const FLAGS = ['help', 'version'];

export type Invocation =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; command: Command; sub: string | undefined; options: Record<string, string> }
  | { kind: 'usage_error'; problems: string[] };

const STRING_OPTIONS = new Set(['config', 'scheme', 'secret', 'body', 'from', 'to', 'policy', 'source']);

export function parseInvocation(argv: string[]): Invocation {
  // `--secret --body x`: an option followed by another option has no value, rather than taking
  // "--body" as its value (which parsing without strict mode would do).
  const args = argv.map((arg, i) => {
    const name = /^--([a-z]+)$/.exec(arg)?.[1];
    const next = argv[i + 1];
    return name !== undefined && STRING_OPTIONS.has(name) && (next === undefined || next.startsWith('-')) ? `--${name}=` : arg;
  });
  const { tokens } = parseArgs({
    args,
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      json: { type: 'boolean' },
      ...Object.fromEntries([...STRING_OPTIONS].map((name) => [name, { type: 'string' as const }])),
    },
  });
  const positionals = tokens.flatMap((t) => (t.kind === 'positional' ? [t.value] : []));
  const optionTokens = tokens.flatMap((t) => (t.kind === 'option' ? [t] : []));
  if (optionTokens.some((t) => t.name === 'version')) return { kind: 'version' };
  if (optionTokens.some((t) => t.name === 'help')) return { kind: 'help' };

  const [name, sub, ...extra] = positionals;
  if (name === undefined) return { kind: 'usage_error', problems: ['sluice: no command given'] };
  if (!(COMMANDS as readonly string[]).includes(name)) {
    const guess = didYouMean(name, COMMANDS);
    return { kind: 'usage_error', problems: [`sluice: unknown command ${JSON.stringify(name)}${guess === null ? '' : ` (did you mean "${guess}"?)`}: expected one of ${COMMANDS.join(', ')}`] };
  }
  const command = name as Command;
  const problems: string[] = [];
  if (command === 'audit' && sub !== 'verify') problems.push(`sluice audit: expected the subcommand "verify"${sub === undefined ? '' : `, got ${JSON.stringify(sub)}`}`);
  const unexpected = command === 'audit' ? extra : [sub, ...extra].filter((x): x is string => x !== undefined);
  for (const arg of unexpected) problems.push(`sluice ${command}: unexpected argument ${JSON.stringify(arg)}`);

  const allowed = OPTIONS[command];
  const options: Record<string, string> = {};
  for (const t of optionTokens) {
    const what = allowed[t.name];
    if (what === undefined) {
      const guess = didYouMean(t.name, [...Object.keys(allowed), ...FLAGS]);
      const known = Object.keys(allowed).map((o) => `--${o}`);
      problems.push(
        `sluice ${command}: unknown option ${t.rawName}${guess === null ? '' : ` (did you mean --${guess}?)`}; ${known.length === 0 ? 'it takes none' : `it takes ${known.join(', ')}`}`,
      );
      continue;
    }
    if (BOOLEAN_OPTIONS.has(t.name)) {
      if (t.value !== undefined) problems.push(`sluice ${command}: --${t.name} takes no value, got ${JSON.stringify(t.value)}`);
      else options[t.name] = 'true';
      continue;
    }
    if (t.value === undefined || t.value === '') {
      problems.push(`sluice ${command}: --${t.name} needs a value: ${what}`);
      continue;
    }
    options[t.name] = t.value;
  }
  for (const required of REQUIRED[command]) {
    if (options[required] === undefined && !optionTokens.some((t) => t.name === required)) problems.push(`sluice ${command}: --${required} is missing: ${allowed[required] ?? ''}`);
  }
  const scheme = options.scheme;
  if (command === 'sign' && scheme !== undefined && !(SIGN_SCHEMES as readonly string[]).includes(scheme)) {
    problems.push(`sluice sign: --scheme ${JSON.stringify(scheme)} is not supported: expected ${SIGN_SCHEMES.join(' or ')} (the schemes whose headers a sender computes)`);
  }
  return problems.length > 0 ? { kind: 'usage_error', problems } : { kind: 'run', command, sub, options };
}
