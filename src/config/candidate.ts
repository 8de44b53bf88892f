/**
 * A candidate policy for `sluice replay` and `POST /admin/replay`: a YAML or JSON value with a
 * top-level `policy:` block whose keys replace the current policy's; keys it omits keep their
 * current values. Validated by the configuration's own policy schema, with the configuration's
 * messages (`policy.max_order_notional: expected a positive number, got "ten"`), every problem at once.
 */
import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { parse as parseYaml } from 'yaml';
import { ConfigError, formatIssue, isUnknownKeyIssue } from './load.js';
import { policySchema, type PolicyConfig } from './schema.js';
import { findUnknownKeys, formatUnknownKey } from './unknown-keys.js';

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The current policy with the candidate's keys replaced; throws ConfigError naming every problem. */
export function candidatePolicy(raw: unknown, current: PolicyConfig): PolicyConfig {
  if (!isRecord(raw)) throw new ConfigError([`(root): expected an object with a policy: block, got ${raw === null ? 'null' : Array.isArray(raw) ? 'a list' : `a ${typeof raw}`}`]);
  const problems = Object.keys(raw)
    .filter((key) => key !== 'policy')
    .map((key) => `${key}: unknown key (a candidate holds only a policy: block)`);
  const block = raw.policy;
  if (!isRecord(block)) {
    throw new ConfigError([...problems, `policy: expected an object of policy keys, got ${block === undefined ? 'nothing' : JSON.stringify(block)}`]);
  }
  const schema = v.strictObject({ policy: policySchema });
  const parsed = v.safeParse(schema, { policy: block });
  const unknown = findUnknownKeys(schema, { policy: block });
  if (!parsed.success || unknown.length > 0 || problems.length > 0) {
    const issues = (parsed.issues ?? []).filter((issue) => !isUnknownKeyIssue(issue)).map((issue) => formatIssue(issue));
    throw new ConfigError([...problems, ...issues, ...unknown.map(formatUnknownKey)]);
  }
  const given = parsed.output.policy;
  const replaced = Object.fromEntries(Object.keys(block).map((key) => [key, given[key as keyof PolicyConfig]]));
  return { ...current, ...replaced };
}

/** Reads a candidate policy file (YAML or JSON) and applies it to `current`. */
export function readCandidatePolicy(path: string, current: PolicyConfig): PolicyConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`--policy: expected a readable file, got ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let raw: unknown;
  try {
    // YAML is a superset of JSON: one parser reads both.
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError([`${path}: expected YAML or JSON, got a parse error: ${(err as Error).message.split('\n')[0]}`]);
  }
  return candidatePolicy(raw, current);
}
