/**
 * Every policy object of a scenario, in order: the built-in bundles rendered for its tenants,
 * then the file and inline manifests the loader read. Built-in bundles are rendered to YAML text
 * and parsed back under a virtual file name (`builtin:hard-isolation`), so each object has a line
 * that lint and schema messages can point at.
 */
import type { Manifest, PolicySource, Scenario } from '../scenario/types.js';
import { renderArticleText } from './article.js';
import { toManifests } from './documents.js';
import { HARD_ISOLATION, renderHardIsolationText } from './hard-isolation.js';
import type { RenderOptions } from './options.js';

export type BuiltinName = Extract<PolicySource, { kind: 'builtin' }>['name'];

/** The virtual file name a built-in bundle's objects are located in. */
export function builtinFile(name: BuiltinName): string {
  return `builtin:${name}`;
}

/** A built-in bundle as YAML text (what `kubectl apply -f -` would get). */
export function renderBuiltinText(
  name: BuiltinName,
  scenario: Scenario,
  options: RenderOptions = {},
): string {
  return name === HARD_ISOLATION ? renderHardIsolationText(scenario, options) : renderArticleText(scenario);
}

/** A built-in bundle as located manifests. */
export function renderBuiltin(
  name: BuiltinName,
  scenario: Scenario,
  options: RenderOptions = {},
): Manifest[] {
  return toManifests(renderBuiltinText(name, scenario, options), builtinFile(name));
}

/**
 * Every policy object of the scenario: the built-in bundles first (in `spec.policies` order), then
 * the file and inline manifests (in `spec.policies` order). Built-ins come first because they are
 * the baseline a user's own manifests add to (and `kubectl apply` creates them first, which decides
 * which of two namespace-wide PeerAuthentications Istio keeps: the oldest).
 */
export function renderPolicySources(scenario: Scenario, options: RenderOptions = {}): Manifest[] {
  const builtins = scenario.policies.flatMap((s) =>
    s.kind === 'builtin'
      ? renderBuiltin(s.name, scenario, {
          ...(s.clusterPolicy === undefined ? {} : { clusterPolicy: s.clusterPolicy }),
          ...(s.allowEgress === undefined ? {} : { allowEgress: s.allowEgress }),
          ...options,
        })
      : [],
  );
  return [...builtins, ...policyFiles(scenario)];
}

/** The objects of the scenario's policy files (the built-in bundles are rendered, not read). */
export function policyFiles(scenario: Scenario): Manifest[] {
  return scenario.policies.flatMap((s) => (s.kind === 'builtin' ? [] : s.manifests));
}
