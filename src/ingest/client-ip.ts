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

/**
 * The address a delivery comes from. With `trustProxy`, the left-most `X-Forwarded-For` entry
 * (the original client, as the first proxy recorded it); only enable it behind a proxy that
 * overwrites the header, since a client can otherwise write any address it likes there. When
 * the entry is not an address it is returned as is, so an allowlist refuses it (fail closed)
 * rather than falling back to the proxy's own address.
 */
export function clientAddress(remoteAddress: string, headers: Headers, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = headers.get('x-forwarded-for');
    const first = forwarded?.split(',')[0]?.trim();
    if (first !== undefined && first !== '') return normalizeAddress(stripPort(first));
  }
  return normalizeAddress(remoteAddress);
}

/**
 * A predicate for `allow_ips` (addresses and CIDRs, IPv4 and IPv6). An empty list allows every
 * address; anything that is not an IP address is refused. Entries are validated by the config
 * schema, so a bad one here is a bug and throws.
 */
export function createIpAllowlist(entries: readonly string[]): (ip: string) => boolean {
  if (entries.length === 0) return () => true;
  const list = new BlockList();
  for (const entry of entries) {
    // Entries are kept as written: BlockList matches IPv4 against `::ffff:` rules and back.
    const [address = '', bits] = entry.trim().split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return function isAllowed(ip: string): boolean {
    const address = normalizeAddress(ip);
    const family = isIP(address);
    if (family === 0) return false;
    return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}
