/**
 * Address ranges for ipBlock, nets and ipBlocks. A workload's address is known exactly (its
 * `ip`) or only as a range (the pod network), so "is it in this CIDR" has three answers.
 */
import type { AddressRange } from '../address.js';
import { MAYBE, NO, YES, type Tri } from './types.js';

export { parseCidr, type AddressRange } from '../address.js';

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
