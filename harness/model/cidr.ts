/**
 * Address ranges for ipBlock, nets and ipBlocks. A workload's address is known exactly (its
 * `ip`) or only as a range (the pod network), so "is it in this CIDR" has three answers.
 */
import { MAYBE, NO, YES, type Tri } from './types.js';

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

/** Whether every address of `inner` lies in `outer`: YES, NO (disjoint) or MAYBE (they overlap). */
export function within(inner: AddressRange, outer: AddressRange): Tri {
  if (inner.v6 !== outer.v6) return NO;
  if (inner.first >= outer.first && inner.last <= outer.last) return YES;
  if (inner.last < outer.first || inner.first > outer.last) return NO;
  return MAYBE;
}

/** Whether an address somewhere in any of `ranges` lies in `cidr` (with `except` carved out). */
export function inBlock(
  ranges: readonly AddressRange[],
  cidr: AddressRange,
  except: readonly AddressRange[] = [],
): Tri {
  let all = ranges.length > 0;
  let any = false;
  for (const range of ranges) {
    let r = within(range, cidr);
    for (const e of except) {
      if (r === NO) break;
      const x = within(range, e);
      if (x === YES) r = NO;
      else if (x === MAYBE) r = MAYBE;
    }
    if (r !== YES) all = false;
    if (r !== NO) any = true;
  }
  return all ? YES : any ? MAYBE : NO;
}
