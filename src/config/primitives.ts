/**
 * The building blocks of the configuration schema (config/schema.ts, config/sinks.ts): every
 * message says what was expected and what was found, so that a start error can name the key.
 */
import * as v from 'valibot';

export const show = (input: unknown): string => {
  if (input === undefined) return 'nothing';
  const text = JSON.stringify(input);
  return text === undefined ? String(input) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
};
export const expected = (what: string) => (issue: { input: unknown }) => `expected ${what}, got ${show(issue.input)}`;

export const positiveNumber = v.pipe(
  v.number(expected('a positive number')),
  v.finite(expected('a positive number')),
  v.gtValue(0, expected('a positive number')),
);
export const positiveInt = v.pipe(
  v.number(expected('a positive integer')),
  v.integer(expected('a positive integer')),
  v.gtValue(0, expected('a positive integer')),
);
export const nonNegativeInt = v.pipe(
  v.number(expected('an integer ≥ 0')),
  v.integer(expected('an integer ≥ 0')),
  v.minValue(0, expected('an integer ≥ 0')),
);
export const rate = v.pipe(
  v.number(expected('a number from 0 to 1')),
  v.minValue(0, expected('a number from 0 to 1')),
  v.maxValue(1, expected('a number from 0 to 1')),
);
export const nonEmptyString = v.pipe(v.string(expected('a non-empty string')), v.minLength(1, expected('a non-empty string')));
export const bool = v.boolean(expected('true or false'));
/** A limit: a positive number, or null for no limit. */
export const limit = v.nullable(positiveNumber);
export const obj = <T extends v.ObjectEntries>(entries: T) => v.strictObject(entries, expected('an object'));
