/**
 * Which Calico settings mean the eBPF dataplane, the one fact both the lint rule on manifests
 * (harness/lint/rules-ambient.ts, `ambient/calico-ebpf`) and the cluster check before an ambient
 * run (harness/cluster/calico.ts, `calicoEbpfProblem`) read, so the two never disagree:
 * - the operator's `Installation` (operator.tigera.io/v1): `spec.calicoNetwork.linuxDataplane: BPF`;
 * - a `FelixConfiguration` (projectcalico.org/v3, or its CRD crd.projectcalico.org/v1):
 *   `spec.bpfEnabled: true`.
 * Why it matters for ambient: under eBPF, Calico policy is not enforced on ambient traffic ("The BPF
 * dataplane's bpf_redirect bypasses the socket layer that Istio ambient (ztunnel) redirection relies
 * on", calico master commit dfce636523, e2e/config/kind/bpf.yaml:21;
 * ../shared/reference/ambient-cnp-facts.md A1.8(c)).
 */

/** One field of a Calico object that turns the eBPF dataplane on. */
export interface CalicoEbpfField {
  readonly kind: 'Installation' | 'FelixConfiguration';
  /** Where it is in the object. */
  readonly path: readonly string[];
  /** The field and value as a user writes them: `linuxDataplane: BPF`. */
  readonly setting: string;
  /** The value that is not eBPF, for the fix. */
  readonly instead: string;
}

const FIELDS: readonly (CalicoEbpfField & { readonly is: (value: unknown) => boolean })[] = [
  {
    kind: 'Installation',
    path: ['spec', 'calicoNetwork', 'linuxDataplane'],
    setting: 'linuxDataplane: BPF',
    instead: 'linuxDataplane Iptables or Nftables',
    is: (v) => v === 'BPF',
  },
  {
    kind: 'FelixConfiguration',
    path: ['spec', 'bpfEnabled'],
    setting: 'bpfEnabled: true',
    instead: 'bpfEnabled false (the iptables or nftables dataplane)',
    is: (v) => v === true,
  },
];

/** Why eBPF rules ambient out, in words (the fact in the header). */
export const CALICO_EBPF_AMBIENT_WHY =
  "under eBPF Calico policy is not enforced on ambient traffic (its bpf_redirect bypasses the socket layer ztunnel's redirection relies on)";

/** The fields of a Calico object (by its kind) that turn the eBPF dataplane on; empty when none does. */
export function calicoEbpfFields(object: {
  readonly kind?: string;
  readonly spec?: unknown;
}): CalicoEbpfField[] {
  return FIELDS.filter((f) => f.kind === object.kind && f.is(valueAt(object, f.path))).map(
    ({ is: _is, ...field }) => field,
  );
}

function valueAt(object: unknown, path: readonly string[]): unknown {
  let at: unknown = object;
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}
