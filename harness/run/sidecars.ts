/**
 * Where a pod's Istio sidecar is, and whether every run pod has the data plane its scenario
 * workload says. The namespace label and the pod's `sidecar.istio.io/inject` label only ask for
 * injection; whether it happened depends on the injector webhooks the cluster has: a
 * revision-only install without a `default` tag, or no Istio at all, leaves pods without
 * `istio-proxy` (istio.io, "Canary upgrades", revision labels and tags), and L7 attempts from or
 * to them would then be judged as isolation failures. So the run looks at the pods themselves.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';

import type { Scenario } from '../scenario/types.js';
import { WORKLOAD_LABEL } from './fixtures.js';

/** The container name Istio's injection template gives the proxy. */
export const PROXY_CONTAINER = 'istio-proxy';

/**
 * The proxy container of a pod, if any. Native sidecars (Istio turns them on for nodes of
 * Kubernetes ≥ 1.33, `ENABLE_NATIVE_SIDECARS=auto`, pkg/kube/inject/webhook.go @1.29.3) are init
 * containers with `restartPolicy: Always`; classic ones are containers.
 */
export function proxyContainerOf(pod: V1Pod): V1Container | undefined {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
    (c) => c.name === PROXY_CONTAINER,
  );
}

export interface SidecarMismatch {
  /** `namespace/pod` */
  readonly pod: string;
  readonly workload: string;
  /** What the scenario says. */
  readonly wanted: boolean;
}

/** The run pods whose sidecar presence differs from their workload's `sidecar`. */
export function sidecarMismatches(scenario: Scenario, pods: readonly V1Pod[]): SidecarMismatch[] {
  const wanted = new Map(scenario.workloads.map((w) => [`${w.namespace}/${w.name}`, w.sidecar]));
  const mismatches: SidecarMismatch[] = [];
  for (const pod of pods) {
    const namespace = pod.metadata?.namespace ?? '';
    const workload = `${namespace}/${pod.metadata?.labels?.[WORKLOAD_LABEL] ?? ''}`;
    const want = wanted.get(workload);
    if (want === undefined) continue;
    if ((proxyContainerOf(pod) !== undefined) !== want) {
      mismatches.push({ pod: `${namespace}/${pod.metadata?.name ?? ''}`, workload, wanted: want });
    }
  }
  return mismatches.sort((a, b) => a.pod.localeCompare(b.pod));
}

/**
 * One sentence per kind of mismatch, with the likely causes. `injectors` are the names of the
 * cluster's mutating webhooks that look like Istio's sidecar injector, or undefined when they
 * could not be read.
 */
export function describeMismatches(
  mismatches: readonly SidecarMismatch[],
  injectors: readonly string[] | undefined,
): string[] {
  const missing = mismatches.filter((m) => m.wanted).map((m) => m.pod);
  const extra = mismatches.filter((m) => !m.wanted).map((m) => m.pod);
  const lines: string[] = [];
  if (missing.length > 0) {
    const cause =
      injectors === undefined
        ? 'the mutating webhooks could not be read; likely causes: no Istio sidecar injector for the default revision (a revision-only install needs `istioctl tag set default --revision <rev>`), Istio not installed, or an injector that skips these namespaces'
        : injectors.length === 0
          ? 'the cluster has no Istio sidecar injector webhook: Istio is not installed, or only as a revision without a `default` tag (`istioctl tag set default --revision <rev>`)'
          : `the injector webhooks present (${injectors.join(', ')}) did not inject them: check their namespace and object selectors (a revision install selects istio.io/rev, not istio-injection) and the sidecar injector's neverInjectSelector`;
    lines.push(
      `${list(missing)} ${missing.length === 1 ? 'has' : 'have'} no istio-proxy although the scenario says sidecar: true; ${cause}`,
    );
  }
  if (extra.length > 0) {
    lines.push(
      `${list(extra)} ${extra.length === 1 ? 'has' : 'have'} an istio-proxy although the scenario says sidecar: false (labelled sidecar.istio.io/inject=false); an injector that ignores that label, or the injector's alwaysInjectSelector, put it there`,
    );
  }
  return lines;
}

/** Whether a mutating webhook name is one of Istio's sidecar injectors (`…sidecar-injector.istio.io`). */
export function isSidecarInjectorWebhook(name: string): boolean {
  return name.endsWith('sidecar-injector.istio.io');
}

function list(pods: readonly string[]): string {
  return pods.length <= 6 ? pods.join(', ') : `${pods.slice(0, 6).join(', ')} and ${pods.length - 6} more`;
}
