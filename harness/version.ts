import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { packageManifest, packageRoot } from './package-files.js';

/** The package version, from bulkhead's package.json. */
export const VERSION: string = packageManifest().version;

/** The commit of a git checkout at `root`, read from .git without running git. */
export function gitCommitAt(root: string): string | undefined {
  try {
    const head = readFileSync(path.join(root, '.git', 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    if (!ref) return undefined;
    const loose = path.join(root, '.git', ref);
    if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
    const packed = readFileSync(path.join(root, '.git', 'packed-refs'), 'utf8');
    return packed
      .split('\n')
      .find((l) => l.endsWith(` ${ref}`))
      ?.split(' ')[0];
  } catch {
    return undefined;
  }
}

/** The commit of the checkout this bulkhead runs from, when it runs from one (recorded with each run). */
export function bulkheadCommit(): string | undefined {
  return gitCommitAt(packageRoot());
}
