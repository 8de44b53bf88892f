/**
 * Who is calling (docs/http-api.md#client-address `allow_ips`, `trust_proxy`): the client address of a delivery,
 * and the allowlist check that runs before authentication. Matching is node:net's BlockList,
 * which understands CIDRs of both families and IPv4-mapped IPv6 addresses.
 */
import { BlockList, isIP } from 'node:net';

const MAPPED_IPV4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** `::ffff:1.2.3.4` (what a dual-stack socket reports for an IPv4 peer) → `1.2.3.4`. */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim();
  return MAPPED_IPV4.exec(trimmed)?.[1] ?? trimmed;
}

/** Strips a port a proxy may have appended: `1.2.3.4:5678`, `[2001:db8::1]:443`, `[2001:db8::1]`. */
function stripPort(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed?.[1] !== undefined) return bracketed[1];
  const v4WithPort = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):\d+$/.exec(entry);
  return v4WithPort?.[1] ?? entry;
}

/** How many proxies `trust_proxy` trusts: `false` none, `true` one, N as configured. */
export function trustedHops(trustProxy: boolean | number): number {
  return trustProxy === true ? 1 : trustProxy === false ? 0 : trustProxy;
}

/**
 * The address a delivery comes from, or null when it cannot be told. Each trusted proxy appends
 * the address it received from to `X-Forwarded-For`, so with N trusted proxies the client is
 * the N-th entry from the right; everything left of it was written by the client and is never
 * believed. A header with fewer than N entries (or none) did not pass through every trusted
 * proxy: the address is unknown (null), which a non-empty allowlist refuses, rather than
 * the proxy's own address or a client-written entry. An entry that is not an address is
 * returned as is, so an allowlist refuses it too (fail closed).
 */
export function clientAddress(remoteAddress: string, headers: Headers, trustProxy: boolean | number): string | null {
  const hops = trustedHops(trustProxy);
  if (hops === 0) return normalizeAddress(remoteAddress);
  // Several X-Forwarded-For lines arrive joined by ", " (Headers does that), in order.
  const entries = (headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const entry = entries[entries.length - hops];
  return entry === undefined ? null : normalizeAddress(stripPort(entry));
}

/**
 * A predicate for `allow_ips` (addresses and CIDRs, IPv4 and IPv6). An empty list allows every
 * address, even an unknown one (null); anything that is not an IP address is refused. Entries are validated by the config
 * schema, so a bad one here is a bug and throws.
 */
export function createIpAllowlist(entries: readonly string[]): (ip: string | null) => boolean {
  if (entries.length === 0) return () => true;
  const list = new BlockList();
  for (const entry of entries) {
    // Entries are kept as written: BlockList matches IPv4 against `::ffff:` rules and back.
    const [address = '', bits] = entry.trim().split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return function isAllowed(ip: string | null): boolean {
    if (ip === null) return false;
    const address = normalizeAddress(ip);
    const family = isIP(address);
    if (family === 0) return false;
    return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}
