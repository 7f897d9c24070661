/**
 * `builtin: article`: the manifests of "Building Hard Multi-Tenant Boundaries in Kubernetes with
 * Istio Service Mesh" exactly as the article prints them, bugs included, with only its tenant and
 * shared-namespace names replaced by the scenario's. Planning, linting or running it shows where
 * the article falls short.
 *
 * The article names its tenants two ways: acme/globex/initech (namespaces `tenant-acme`…, label
 * values `acme`…) and alpha/beta (namespaces `tenant-alpha`…, header values `alpha`…). Both map onto
 * the scenario's tenants in declaration order: acme and alpha → first tenant, globex and beta →
 * second, initech → third. `platform-logging` and `shared-services` → the first shared namespace.
 * A name with no counterpart in the scenario stays as written. Everything else (istio-system,
 * cluster.local, `${tenant}`) stays as written, because that is part of what the article says.
 */
import { readFileSync } from 'node:fs';

import { packageFile } from '../package-files.js';
import type { Scenario } from '../scenario/types.js';

export const ARTICLE = 'article';

const ARTICLE_FILE = packageFile('harness/policies/data/article-manifests.yaml');

/** The article's YAML as shipped in the package. */
export function articleSourceText(): string {
  return readFileSync(ARTICLE_FILE, 'utf8');
}

/** Article name → scenario name, for the scenario's tenants and shared namespaces. */
export function articleNameMap(scenario: Scenario): Map<string, string> {
  const tenants = scenario.namespaces.filter((n) => n.tenant !== undefined);
  const shared = scenario.namespaces.find((n) => n.tenant === undefined);
  const map = new Map<string, string>();
  const slots: readonly (readonly string[])[] = [['acme', 'alpha'], ['globex', 'beta'], ['initech']];
  slots.forEach((names, i) => {
    const ns = tenants[i];
    if (!ns) return;
    for (const name of names) {
      map.set(`tenant-${name}`, ns.name);
      map.set(name, ns.tenant ?? ns.name);
    }
  });
  if (shared) {
    map.set('platform-logging', shared.name);
    map.set('shared-services', shared.name);
  }
  return map;
}

/**
 * Namespace names anywhere (`tenant-acme`, inside principals too); bare tenant names only as a
 * whole quoted string (`'acme'` in a selector, `"alpha"` as a header value) so prose-like words
 * elsewhere are left alone. One pass, so a mapping onto a name the article also uses is not
 * substituted twice.
 */
const NAMES =
  /(?<![\w-])(tenant-(?:acme|globex|initech|alpha|beta)|platform-logging|shared-services)(?![\w-])|(?<=['"])(acme|globex|initech|alpha|beta)(?=['"])/g;

/** The article's manifests as text, names substituted for the scenario. */
export function renderArticleText(scenario: Scenario): string {
  const map = articleNameMap(scenario);
  const body = articleSourceText().replace(NAMES, (whole: string) => map.get(whole) ?? whole);
  const mapping = [...map].map(([from, to]) => `${from} → ${to}`).join(', ');
  return `# builtin:${ARTICLE} for scenario '${scenario.name}'; names: ${mapping || 'as written'}\n${body}`;
}
