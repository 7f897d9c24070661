/**
 * `--service-cidr 10.96.0.0/12,fd00:10:96::/112`: address ranges as one option value, commas
 * between them, the option repeatable. One value per use, not commander's variadic `<cidr...>`,
 * because a variadic option swallows the positional paths after it (`lint --service-cidr
 * 10.96.0.0/12 policies/` took `policies/` for a CIDR and linted nothing).
 *
 * Its own module so that lint and plan, loaded lazily, parse CIDRs without shared.ts's imports.
 */
import { InvalidArgumentError } from 'commander';

import { parseCidr } from '../model/cidr.js';

/** Commander's argParser for a repeatable CIDR-list option: every CIDR given, in order. */
export function cidrList(value: string, previous: readonly string[] | undefined): string[] {
  const cidrs = value.split(',').map((c) => c.trim());
  if (cidrs.some((c) => c === ''))
    throw new InvalidArgumentError(`'${value}' has an empty entry; separate CIDRs with single commas`);
  const bad = cidrs.filter((c) => !c.includes('/') || parseCidr(c) === undefined);
  if (bad.length > 0)
    throw new InvalidArgumentError(
      `not a CIDR with a prefix length: '${bad.join("', '")}' (write 10.0.0.5/32 for one address)`,
    );
  return [...(previous ?? []), ...cidrs];
}
