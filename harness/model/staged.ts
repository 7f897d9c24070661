/**
 * Calico staged policies (projectcalico.org/v3 StagedNetworkPolicy, StagedGlobalNetworkPolicy,
 * StagedKubernetesNetworkPolicy) as if they were enforced. Staged policies "preview network
 * behavior and do not enforce network traffic"; each has the spec of its enforced kind plus
 * `stagedAction` (reference/ambient-cnp-facts.md B6.1; calico@v3.32.1
 * api/pkg/apis/projectcalico/v3/policy_common.go:246-249, stagednetworkpolicy.go,
 * stagedkubernetesnetworkpolicy.go):
 * - `Set` (the default) previews the policy as written: it is enforced in place of the enforced
 *   policy of the same kind, namespace and name, if there is one;
 * - `Delete` previews the removal of that enforced policy;
 * - `Learn` and `Ignore` have no documented semantics [UNVERIFIED]: the policy stays in as an
 *   object the model does not understand, so the predictions it may touch become `unknown`.
 * The enforced form keeps the staged manifest's file and line, so reasons point at it.
 */
import { API_GROUPS, POLICY_KINDS } from '../policies/kinds.js';
import { CALICO_GROUPS } from './calico.js';
import { isObj, objectName, type Obj } from './read.js';
import type { PolicyManifest } from './types.js';

/** Each staged kind and the enforced kind it previews (the `stages` of its row, policies/kinds.ts). */
const ENFORCED: Readonly<Record<string, { readonly apiVersion?: string; readonly kind: string }>> =
  Object.fromEntries(
    POLICY_KINDS.flatMap((row) =>
      row.group === API_GROUPS.calico && row.stages ? [[row.kind, row.stages] as const] : [],
    ),
  );

export function isStaged(o: Obj): boolean {
  return CALICO_GROUPS.includes(String(o.apiVersion)) && String(o.kind) in ENFORCED;
}

/** Which enforced object an object is: Calico's two API groups name the same objects. */
function identity(o: Obj): string {
  const group = CALICO_GROUPS.includes(String(o.apiVersion)) ? 'calico' : String(o.apiVersion);
  const { name, namespace } = objectName(o);
  return `${group}\u0000${String(o.kind)}\u0000${namespace ?? ''}\u0000${name}`;
}

/** The manifests with every staged policy enforced (or its deletion carried out). */
export function enforceStaged<M extends PolicyManifest>(manifests: readonly M[]): M[] {
  const replaced = new Set<string>();
  const converted = new Map<M, M | undefined>();
  for (const m of manifests) {
    if (!isStaged(m.object)) continue;
    const target = ENFORCED[String(m.object.kind)];
    if (!target) continue;
    const spec: Obj = isObj(m.object.spec) ? m.object.spec : {};
    const { stagedAction, ...rest } = spec;
    const action = stagedAction ?? 'Set';
    const enforced: Obj = {
      ...m.object,
      apiVersion: target.apiVersion ?? m.object.apiVersion,
      kind: target.kind,
      // Learn and Ignore keep the field the model does not read, so the policy is not understood.
      spec: action === 'Set' || action === 'Delete' ? rest : spec,
    };
    replaced.add(identity(enforced));
    converted.set(m, action === 'Delete' ? undefined : { ...m, object: enforced });
  }
  return manifests.flatMap((m) => {
    if (converted.has(m)) {
      const c = converted.get(m);
      return c === undefined ? [] : [c];
    }
    return replaced.has(identity(m.object)) ? [] : [m];
  });
}

/** Whether any manifest is a staged policy. */
export function hasStaged(manifests: readonly PolicyManifest[]): boolean {
  return manifests.some((m) => isStaged(m.object));
}
