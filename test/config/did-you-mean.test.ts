/** The edit distance behind "did you mean" (src/config/did-you-mean.ts), as tables. */
import { describe, expect, test } from 'vitest';
import { didYouMean, editDistance } from '../../src/config/did-you-mean.js';

describe('editDistance', () => {
  const cases: Array<[string, string, number]> = [
    ['', '', 0],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['connector', 'connector', 0],
    ['conector', 'connector', 1],
    ['connectorr', 'connector', 1],
    ['connectpr', 'connector', 1],
    ['conenctor', 'connector', 1],
    ['kitten', 'sitting', 3],
    ['ab', 'ba', 1],
    ['ca', 'abc', 3],
    ['policy', 'polciy', 1],
  ];
  test.each(cases)('%j → %j: %i', (a, b, want) => {
    expect(editDistance(a, b)).toBe(want);
    expect(editDistance(b, a)).toBe(want);
  });
});

describe('didYouMean', () => {
  const keys = ['auth', 'format', 'connector', 'allow_ips', 'trust_proxy', 'rate_limit_per_minute'];
  const cases: Array<[string, readonly string[], string | null]> = [
    ['conector', keys, 'connector'],
    ['Connector', keys, 'connector'],
    ['formatt', keys, 'format'],
    ['allow_ip', keys, 'allow_ips'],
    ['auht', keys, 'auth'],
    ['colour', keys, null],
    ['xy', ['ab'], null],
    ['a', ['b'], null],
    ['rate_limit', keys, null],
    ['anything', [], null],
    ['polcy', ['policy', 'sources'], 'policy'],
    ['conn', ['con', 'connx'], 'con'],
  ];
  test.each(cases)('%j among %j → %j', (word, known, want) => {
    expect(didYouMean(word, known)).toBe(want);
  });
});
