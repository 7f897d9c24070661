/**
 * The layers read from the top (DESIGN.md "Layout"): cli → upgrade → run → suites → report →
 * results → lint → model / agent / policies → scenario → cluster → kube, with the shared base
 * modules (errors, values, version, yaml-source, ...) under all of them. An import from a lower
 * layer to a higher one is data running back up: this test names each one it finds.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';

import { repoRoot } from './support/scenarios.js';

const RANK: Readonly<Record<string, number>> = {
  api: 12, // harness/index.ts, harness/suite.ts: the package's faces
  cli: 11,
  upgrade: 10,
  run: 9,
  suites: 8,
  report: 7,
  results: 6,
  lint: 5,
  model: 4,
  agent: 4,
  policies: 4,
  scenario: 3,
  cluster: 2,
  kube: 1,
  base: 0,
};

/**
 * Known and accepted: a scenario's `policies:` files are read by the one manifest reader, which
 * lives with the policies. The reader needs only the scenario's `Manifest` type in return.
 */
const ACCEPTED = new Set(['harness/scenario/loader.ts -> harness/policies/read-manifests.ts']);

function layerOf(file: string): string {
  const parts = path.relative(repoRoot, file).split(path.sep);
  if (parts[0] === 'suites') return 'suites';
  if (parts.length === 2) return ['index.ts', 'suite.ts'].includes(parts[1] ?? '') ? 'api' : 'base';
  return parts[1] ?? 'base';
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) return e === 'data' || e === 'schemas' ? [] : sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

describe('layers', () => {
  it('no module imports from a layer above its own', () => {
    const files = [...sources(path.join(repoRoot, 'harness')), ...sources(path.join(repoRoot, 'suites'))];
    expect(files.length).to.be.greaterThan(100);
    const upward: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = path.resolve(path.dirname(file), m[1] ?? '').replace(/\.js$/, '.ts');
        const [from, to] = [layerOf(file), layerOf(target)];
        const rank = (l: string) => RANK[l] ?? Number.NaN;
        expect(rank(from), `${file}: layer ${from} has no rank`).to.not.be.NaN;
        expect(rank(to), `${target}: layer ${to} has no rank`).to.not.be.NaN;
        const edge = `${path.relative(repoRoot, file)} -> ${path.relative(repoRoot, target)}`;
        if (rank(to) > rank(from) && !ACCEPTED.has(edge)) upward.push(`${edge} (${from} -> ${to})`);
      }
    }
    expect(upward).to.deep.equal([]);
  });
});
