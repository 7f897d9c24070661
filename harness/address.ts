/**
 * IP addresses and CIDRs as numbers: `10.0.0.0/8`, `fd00::/64` or a bare address (a /32 or /128).
 * One reading for every layer: the policy model matches ipBlock/nets rules with it
 * (harness/model/cidr.ts), the scenario picks the address an egress attempt dials in a named range.
 */

export interface AddressRange {
  readonly v6: boolean;
  readonly first: bigint;
  readonly last: bigint;
}

/** Parses `10.0.0.0/8`, `fd00::/64` or a bare address (a /32 or /128). Undefined when malformed. */
export function parseCidr(text: string): AddressRange | undefined {
  const [address, prefixText, extra] = text.trim().split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const v6 = address.includes(':');
  const value = v6 ? parseV6(address) : parseV4(address);
  if (value === undefined) return undefined;
  const bits = v6 ? 128 : 32;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) return undefined;
  const hostBits = BigInt(bits - prefix);
  const first = (value >> hostBits) << hostBits;
  return { v6, first, last: first + (1n << hostBits) - 1n };
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseV6(text: string): bigint | undefined {
  let head = text;
  let tail = '';
  const double = text.indexOf('::');
  if (double >= 0) {
    if (text.indexOf('::', double + 1) >= 0) return undefined;
    head = text.slice(0, double);
    tail = text.slice(double + 2);
  }
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const expand = (list: string[]): number[] | undefined => {
    const out: number[] = [];
    for (const [i, g] of list.entries()) {
      if (i === list.length - 1 && g.includes('.')) {
        const v4 = parseV4(g);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else return undefined;
    }
    return out;
  };
  const h = expand(groups(head));
  const t = expand(groups(tail));
  if (!h || !t) return undefined;
  const missing = 8 - h.length - t.length;
  if (double < 0 ? missing !== 0 : missing < 1) return undefined;
  const all = [...h, ...Array<number>(double < 0 ? 0 : missing).fill(0), ...t];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** The address text of a value: dotted IPv4, or eight uncompressed hex groups for IPv6. */
export function formatAddress(value: bigint, v6: boolean): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  return groups.join(':');
}

/**
 * The address to dial for a range the scenario names: the address itself for a /32 or /128, and
 * for a wider range its first address after the network address (`203.0.113.0/24` → `203.0.113.1`),
 * since a network address is not one a host answers on. Undefined when the text is malformed.
 */
export function dialAddress(text: string): string | undefined {
  const range = parseCidr(text);
  if (!range) return undefined;
  if (range.first === range.last) return text.split('/')[0];
  return formatAddress(range.first + 1n, range.v6);
}
