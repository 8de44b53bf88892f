/** Client address resolution and the `allow_ips` check (docs/http-api.md#client-address), as tables of cases. */
import { describe, expect, test } from 'vitest';
import { clientAddress, createIpAllowlist, normalizeAddress } from '../../src/ingest/client-ip.js';

describe('clientAddress', () => {
  const cases: { name: string; remote: string; xff?: string; trust: boolean | number; want: string | null }[] = [
    { name: 'socket address without trust_proxy', remote: '203.0.113.7', xff: '198.51.100.1', trust: false, want: '203.0.113.7' },
    { name: 'trust_proxy true: the right-most entry (what the one proxy appended)', remote: '10.0.0.1', xff: '198.51.100.1, 10.0.0.2, 10.0.0.3', trust: true, want: '10.0.0.3' },
    { name: 'trust_proxy true: a forged left-most entry is never believed', remote: '10.0.0.1', xff: '10.9.9.9, 203.0.113.50', trust: true, want: '203.0.113.50' },
    { name: 'trust_proxy 1 is true', remote: '10.0.0.1', xff: '10.9.9.9, 203.0.113.50', trust: 1, want: '203.0.113.50' },
    { name: 'trust_proxy 2: the second entry from the right', remote: '10.0.0.1', xff: '10.9.9.9, 203.0.113.50, 10.0.0.2', trust: 2, want: '203.0.113.50' },
    { name: 'trust_proxy 3 with exactly three entries: the left-most', remote: '10.0.0.1', xff: '198.51.100.1, 10.0.0.2, 10.0.0.3', trust: 3, want: '198.51.100.1' },
    { name: 'trust_proxy 3 with two entries: unknown', remote: '10.0.0.1', xff: '198.51.100.1, 10.0.0.2', trust: 3, want: null },
    { name: 'trusted but no header: unknown, not the proxy address', remote: '10.0.0.1', trust: true, want: null },
    { name: 'trusted and header empty: unknown', remote: '10.0.0.1', xff: '  ', trust: true, want: null },
    { name: 'empty entries do not count as hops', remote: '10.0.0.1', xff: '198.51.100.1, , 10.0.0.2', trust: 2, want: '198.51.100.1' },
    { name: 'mapped IPv4 socket address normalized', remote: '::ffff:203.0.113.7', trust: false, want: '203.0.113.7' },
    { name: 'mapped IPv4 socket address, upper case', remote: '::FFFF:203.0.113.7', trust: false, want: '203.0.113.7' },
    { name: 'mapped IPv4 in X-Forwarded-For normalized', remote: '10.0.0.1', xff: '::ffff:198.51.100.9', trust: true, want: '198.51.100.9' },
    { name: 'plain IPv6 left alone', remote: '2001:db8::1', trust: false, want: '2001:db8::1' },
    { name: 'IPv6 in X-Forwarded-For', remote: '10.0.0.1', xff: '2001:db8::5, 10.0.0.2', trust: 2, want: '2001:db8::5' },
    { name: 'IPv4 with a port in X-Forwarded-For', remote: '10.0.0.1', xff: '198.51.100.1:5678', trust: true, want: '198.51.100.1' },
    { name: 'bracketed IPv6 with a port in X-Forwarded-For', remote: '10.0.0.1', xff: '[2001:db8::5]:443', trust: true, want: '2001:db8::5' },
    { name: 'garbage in X-Forwarded-For is kept (the allowlist refuses it)', remote: '10.0.0.1', xff: 'unknown', trust: true, want: 'unknown' },
  ];
  test.each(cases)('$name', ({ remote, xff, trust, want }) => {
    const headers = new Headers(xff === undefined ? {} : { 'x-forwarded-for': xff });
    expect(clientAddress(remote, headers, trust)).toBe(want);
  });

  test('normalizeAddress leaves a non-mapped ::ffff form alone', () => {
    expect(normalizeAddress('::ffff:abcd')).toBe('::ffff:abcd');
  });
});

describe('createIpAllowlist', () => {
  const entries = ['52.89.214.238', '10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32', 'fe80::1'];
  const allowed = createIpAllowlist(entries);
  const cases: { ip: string | null; want: boolean }[] = [
    { ip: '52.89.214.238', want: true },
    { ip: '52.89.214.239', want: false },
    { ip: '10.255.255.255', want: true },
    { ip: '11.0.0.1', want: false },
    { ip: '192.168.1.200', want: true },
    { ip: '192.168.2.1', want: false },
    { ip: '2001:db8:abcd::1', want: true },
    { ip: '2001:0db8:0000::0001', want: true },
    { ip: '2001:db9::1', want: false },
    { ip: 'fe80::1', want: true },
    { ip: 'fe80::2', want: false },
    { ip: '::ffff:10.1.2.3', want: true },
    { ip: '::ffff:11.1.2.3', want: false },
    { ip: 'unknown', want: false },
    { ip: '', want: false },
    { ip: null, want: false },
  ];
  test.each(cases)('$ip → $want', ({ ip, want }) => {
    expect(allowed(ip)).toBe(want);
  });

  test('an empty list allows every address', () => {
    const all = createIpAllowlist([]);
    expect(all('203.0.113.7')).toBe(true);
    expect(all('2001:db8::1')).toBe(true);
    expect(all(null)).toBe(true);
  });

  test('an entry written as a mapped address matches the plain IPv4 address', () => {
    expect(createIpAllowlist(['::ffff:203.0.113.7'])('203.0.113.7')).toBe(true);
  });

  test('a /32 and a /128 match exactly one address', () => {
    const exact = createIpAllowlist(['203.0.113.7/32', '2001:db8::7/128']);
    expect([exact('203.0.113.7'), exact('203.0.113.8'), exact('2001:db8::7'), exact('2001:db8::8')]).toEqual([true, false, true, false]);
  });

  test('clientAddress and the allowlist together: a spoofed X-Forwarded-For only counts with trust_proxy', () => {
    const tradingView = createIpAllowlist(['52.89.214.238']);
    const headers = new Headers({ 'x-forwarded-for': '52.89.214.238' });
    expect(tradingView(clientAddress('203.0.113.66', headers, false))).toBe(false);
    expect(tradingView(clientAddress('10.0.0.1', headers, true))).toBe(true);
  });
});
