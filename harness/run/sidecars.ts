/**
 * Where a pod's Istio sidecar is, and whether every run pod has the data plane its scenario
 * workload says. The namespace label and the pod's `sidecar.istio.io/inject` label only ask for
 * injection; whether it happened depends on the injector webhooks the cluster has: a
 * revision-only install without a `default` tag, or no Istio at all, leaves pods without
 * `istio-proxy` (istio.io, "Canary upgrades", revision labels and tags), and L7 attempts from or
 * to them would then be judged as isolation failures. So the run looks at the pods themselves.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';

import { DATAPLANE_MODE_LABEL, dataPlaneOf } from '../scenario/dataplane.js';
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

/**
 * The pod annotation istio-cni writes (through `pods/status`) once a pod's traffic is redirected to
 * ztunnel: `enabled` and only `enabled` means captured; `pending` means partly captured with no
 * ztunnel accepting it yet, and such a pod passes no traffic at all
 * (istio@1.30.3 pkg/config/constants/constants.go:195-207, cni/pkg/util/podutil.go;
 * ../shared/reference/ambient-cnp-facts.md A2.2).
 */
export const REDIRECTION_ANNOTATION = 'ambient.istio.io/redirection';
export const REDIRECTION_ENABLED = 'enabled';

export interface CaptureMismatch {
  /** `namespace/pod` */
  readonly pod: string;
  readonly workload: string;
  /** Whether the scenario says ambient. */
  readonly wanted: boolean;
  /** The annotation's value, undefined when absent. */
  readonly found: string | undefined;
}

/**
 * The run pods whose ztunnel capture differs from their workload's data plane: an ambient pod not
 * `enabled` (absent, `pending`, anything else), or a pod of another data plane that is.
 */
export function captureMismatches(scenario: Scenario, pods: readonly V1Pod[]): CaptureMismatch[] {
  const wanted = new Map(
    scenario.workloads.map((w) => [`${w.namespace}/${w.name}`, dataPlaneOf(w) === 'ambient']),
  );
  const mismatches: CaptureMismatch[] = [];
  for (const pod of pods) {
    const namespace = pod.metadata?.namespace ?? '';
    const workload = `${namespace}/${pod.metadata?.labels?.[WORKLOAD_LABEL] ?? ''}`;
    const want = wanted.get(workload);
    if (want === undefined) continue;
    const found = pod.metadata?.annotations?.[REDIRECTION_ANNOTATION];
    if ((found === REDIRECTION_ENABLED) !== want) {
      mismatches.push({ pod: `${namespace}/${pod.metadata?.name ?? ''}`, workload, wanted: want, found });
    }
  }
  return mismatches.sort((a, b) => a.pod.localeCompare(b.pod));
}

/** One sentence per kind of capture mismatch, with what the annotation said and the likely causes. */
export function describeCaptureMismatches(mismatches: readonly CaptureMismatch[]): string[] {
  const pending = mismatches.filter((m) => m.wanted && m.found === 'pending').map((m) => m.pod);
  const absent = mismatches.filter((m) => m.wanted && m.found !== 'pending').map((m) => m.pod);
  const extra = mismatches.filter((m) => !m.wanted).map((m) => m.pod);
  const lines: string[] = [];
  if (absent.length > 0) {
    lines.push(
      `${list(absent)} ${absent.length === 1 ? 'is' : 'are'} not captured by ztunnel (no ${REDIRECTION_ANNOTATION}: ${REDIRECTION_ENABLED}) although the scenario says dataplane: ambient; likely causes: istio-cni is not running on the pod's node, the namespace is in istio-cni's excludeNamespaces, or the pod has a sidecar`,
    );
  }
  if (pending.length > 0) {
    lines.push(
      `${list(pending)} ${pending.length === 1 ? 'is' : 'are'} ${REDIRECTION_ANNOTATION}: pending: redirected, but no ztunnel has accepted ${pending.length === 1 ? 'it' : 'them'}, so no traffic passes; check the ztunnel pod on the node`,
    );
  }
  if (extra.length > 0) {
    lines.push(
      `${list(extra)} ${extra.length === 1 ? 'is' : 'are'} captured by ztunnel although the scenario says ${extra.length === 1 ? 'its' : 'their'} data plane is not ambient (labelled ${DATAPLANE_MODE_LABEL}=none or given a sidecar); a pod label istio.io/dataplane-mode=ambient from elsewhere put it there`,
    );
  }
  return lines;
}
