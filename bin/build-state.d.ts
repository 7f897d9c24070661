/**
 * True when every `.ts` under harness/ and suites/ of the package at `root` has its `.js` in
 * dist/, no older than the source (always true in a published package, which ships no sources).
 */
export function buildIsCurrent(root: string): boolean;
