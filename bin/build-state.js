// Whether the compiled build in dist/ is current: bin/bulkhead.js runs it only then, and the
// benchmarks and the package test check the same before they measure or pack it.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const SOURCE_DIRS = ['harness', 'suites'];

/**
 * True when every `.ts` under harness/ and suites/ of the package at `root` has its `.js` in
 * dist/, no older than the source. A published package ships no sources, so there nothing is
 * compared and the build is current.
 */
export function buildIsCurrent(root) {
  for (const dir of SOURCE_DIRS) {
    let entries;
    try {
      entries = readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
      const source = path.join(entry.parentPath, entry.name);
      const built = path.join(root, 'dist', path.relative(root, source).replace(/\.ts$/, '.js'));
      try {
        if (statSync(built).mtimeMs < statSync(source).mtimeMs) return false;
      } catch {
        return false;
      }
    }
  }
  return true;
}
