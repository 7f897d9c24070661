/** IPv4 CIDR arithmetic, enough to tell whether one range lies inside another. IPv6 ranges are not compared. */

export interface Range4 {
  readonly first: number;
  readonly last: number;
}

export function parseCidr4(cidr: string): Range4 | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(cidr.trim());
  if (!m) return undefined;
  const octets = [m[1], m[2], m[3], m[4]].map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  const bits = m[5] === undefined ? 32 : Number(m[5]);
  if (bits > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const first = Math.floor(address / size) * size;
  return { first, last: first + size - 1 };
}

/** Whether every address of `inner` is in `outer`. */
export function contains(outer: string, inner: string): boolean {
  const o = parseCidr4(outer);
  const i = parseCidr4(inner);
  return o !== undefined && i !== undefined && o.first <= i.first && i.last <= o.last;
}
