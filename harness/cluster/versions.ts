/**
 * The versions bulkhead provisions and the pairs it accepts. A pair outside these tables is
 * refused before any command runs: an Istio that does not support the cluster's Kubernetes
 * fails in ways that look like isolation results.
 */
import { UserError } from '../errors.js';

export interface NodeImage {
  readonly kubernetes: string;
  /** The kind release whose node image this is (images are built per release). */
  readonly kindRelease: string;
  readonly image: string;
}

/**
 * kind's default node image of each release, pinned by digest (kubernetes-sigs/kind
 * `pkg/apis/config/defaults/image.go` at the tag, and the release notes).
 */
export const NODE_IMAGES: readonly NodeImage[] = [
  {
    kubernetes: '1.34.0',
    kindRelease: 'v0.30.0',
    image: 'kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a',
  },
  {
    kubernetes: '1.35.0',
    kindRelease: 'v0.31.0',
    image: 'kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f',
  },
  {
    kubernetes: '1.36.1',
    kindRelease: 'v0.32.0',
    image: 'kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5',
  },
];

/** Kubernetes minors each Istio minor supports (istio.io supported releases). */
export const ISTIO_KUBERNETES: Readonly<Record<string, readonly [string, string]>> = {
  '1.27': ['1.29', '1.33'],
  '1.28': ['1.30', '1.34'],
  '1.29': ['1.31', '1.35'],
  // istioctl's precheck minimum for 1.30 is 1.32; the upper bound follows the five-minor window
  // every earlier release has had. istioctl's own precheck still runs against the cluster.
  '1.30': ['1.32', '1.36'],
};

/** Kubernetes minors each Calico minor was tested with (Tigera's support tables). */
export const CALICO_KUBERNETES: Readonly<Record<string, readonly [string, string]>> = {
  '3.31': ['1.32', '1.35'],
  '3.32': ['1.34', '1.36'],
  '3.33': ['1.35', '1.37'],
};

/**
 * Calico patch releases whose API server breaks what a run does, with the fix release.
 * v3.32.0: a server-side apply that creates a NetworkPolicy or GlobalNetworkPolicy fails with
 * NotFound (projectcalico/calico#12841, fixed by #12905 / cherry-pick #12906, first in v3.32.1).
 */
export const BROKEN_CALICO: Readonly<Record<string, string>> = {
  'v3.32.0':
    'fails every server-side apply of a tiered policy with NotFound (projectcalico/calico#12841, fixed in v3.32.1); use --calico v3.32.1 or later',
};

/**
 * ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) is enforced from Calico v3.32.0, whose
 * operator CRDs also install its CRD; v3.32.0 is refused above, so v3.32.1 is the first release a
 * run can use it on (reference/ambient-cnp-facts.md B4.1, B4.3, B5.4).
 */
export function calicoHasClusterNetworkPolicy(version: string): boolean {
  const [major = 0, minor = 0] = version.trim().replace(/^v/, '').split('.').map(Number);
  return major > 3 || (major === 3 && minor >= 32);
}

/**
 * The first Calico release a run can use ClusterNetworkPolicy on: support arrived in v3.32.0
 * (release notes, PR 10810; reference/ambient-cnp-facts.md B4.1), and v3.32.0 is refused for its
 * server-side-apply bug, fixed in v3.32.1 (B4.3).
 */
export const CNP_MIN_CALICO = 'v3.32.1';

/**
 * `a` before `b` (negative), equal (0) or after (positive), by major, minor and patch; a leading
 * `v` is ignored and so is a pre-release suffix (`1.30.0-beta.1` compares as 1.30.0).
 */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) =>
    v
      .replace(/^v/, '')
      .split('.')
      .map((x) => Number.parseInt(x, 10) || 0);
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether a Calico release is older than {@link CNP_MIN_CALICO} (a version that does not parse counts as older). */
export function calicoBeforeClusterNetworkPolicy(version: string): boolean {
  const v = version.trim();
  return !/^v?\d+\.\d+\.\d+/.test(v) || compareVersions(v, CNP_MIN_CALICO) < 0;
}

/** Why a Calico release cannot run bulkhead, when it is one of {@link BROKEN_CALICO}. */
export function brokenCalico(version: string): string | undefined {
  return BROKEN_CALICO[`v${version.trim().replace(/^v/, '')}`];
}

export const DEFAULT_KUBERNETES = '1.35.0';
export const DEFAULT_CALICO = 'v3.31.2';
/**
 * A supported Istio: 1.29 reached end of life on 2026-08-31 (endoflife.date products/istio.md).
 * 1.30.3 is the newest 1.30 tag whose source bulkhead's Istio facts were checked against.
 */
export const DEFAULT_ISTIO = '1.30.3';

export interface VersionPlan {
  readonly kubernetes: string;
  readonly calico: string;
  readonly istio: string;
}

/** `1.29.3` → `1.29`; `v3.31.2` → `3.31`. */
export function minorOf(version: string): string {
  const m = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(version.trim());
  if (!m) throw new UserError(`'${version}' is not a version like 1.29.3`);
  return `${m[1] ?? ''}.${m[2] ?? ''}`;
}

function compareMinor(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

function within(minor: string, [low, high]: readonly [string, string]): boolean {
  return compareMinor(minor, low) >= 0 && compareMinor(minor, high) <= 0;
}

/** The pinned node image for a Kubernetes version (`1.35` picks the pinned 1.35 patch). */
export function nodeImageFor(kubernetes: string): NodeImage {
  const wanted = kubernetes.replace(/^v/, '');
  const exact = NODE_IMAGES.find((n) => n.kubernetes === wanted);
  const byMinor = NODE_IMAGES.find((n) => minorOf(n.kubernetes) === minorOf(wanted));
  const found = exact ?? (wanted.split('.').length === 2 ? byMinor : undefined);
  if (!found) {
    throw new UserError(
      `no pinned kind node image for Kubernetes ${kubernetes}; use --kubernetes ${NODE_IMAGES.map((n) => n.kubernetes).join(', ')}`,
    );
  }
  return found;
}

/** Refuses an Istio/Kubernetes or Calico/Kubernetes pair outside the support tables. */
export function checkVersionPlan(plan: VersionPlan): void {
  const k8s = minorOf(plan.kubernetes);
  const istio = minorOf(plan.istio);
  const istioRange = ISTIO_KUBERNETES[istio];
  if (!istioRange) {
    throw new UserError(
      `Istio ${plan.istio} is not a release bulkhead knows; use --istio with one of ${Object.keys(ISTIO_KUBERNETES).join(', ')} (e.g. ${DEFAULT_ISTIO})`,
    );
  }
  if (!within(k8s, istioRange)) {
    throw new UserError(
      `Istio ${plan.istio} does not support Kubernetes ${plan.kubernetes} (it supports ${istioRange[0]}–${istioRange[1]}); pick --kubernetes in that range or another --istio`,
    );
  }
  const calico = minorOf(plan.calico);
  const broken = brokenCalico(plan.calico);
  if (broken) throw new UserError(`Calico ${plan.calico} ${broken}`);
  const calicoRange = CALICO_KUBERNETES[calico];
  if (!calicoRange) {
    throw new UserError(
      `Calico ${plan.calico} is not a release bulkhead knows; use --calico with one of ${Object.keys(CALICO_KUBERNETES).join(', ')} (e.g. ${DEFAULT_CALICO})`,
    );
  }
  if (!within(k8s, calicoRange)) {
    throw new UserError(
      `Calico ${plan.calico} was not tested with Kubernetes ${plan.kubernetes} (it supports ${calicoRange[0]}–${calicoRange[1]}); pick --kubernetes in that range or another --calico`,
    );
  }
}

/**
 * The Istio minors bulkhead provisions the ambient data plane for, each with the Gateway API
 * release it is built against (../shared/reference/ambient-cnp-facts.md A1.4: 1.29 against
 * gateway-api v1.4.1, 1.30 against v1.5.1), whose CRDs waypoints need. Other minors are outside
 * the facts bulkhead's ambient behaviour rests on, and refused.
 */
export const AMBIENT_ISTIO_GATEWAY_API: Readonly<Record<string, string>> = {
  '1.29': 'v1.4.1',
  '1.30': 'v1.5.1',
};

/**
 * Why an Istio release cannot run the ambient data plane for bulkhead, or undefined. The Kubernetes
 * side needs nothing more than {@link ISTIO_KUBERNETES}: its floors (1.31 for Istio 1.29, 1.32 for
 * 1.30) are at or above istioctl's own `MinK8SVersion` (1.30 and 1.32, facts A1.2). The Calico side
 * has no version floor in the facts for upstream Istio's ambient mode; what rules a Calico out is
 * its dataplane (eBPF, facts A1.8), which is checked on the cluster (harness/cluster/calico.ts).
 */
export function ambientUnsupported(istio: string): string | undefined {
  const minor = minorOf(istio);
  if (AMBIENT_ISTIO_GATEWAY_API[minor]) return undefined;
  return `Istio ${istio} is not a release bulkhead runs the ambient data plane on (it does for ${Object.keys(AMBIENT_ISTIO_GATEWAY_API).join(' and ')}, the releases its ambient facts were checked against)`;
}

/** {@link checkVersionPlan}, and for the ambient data plane, {@link ambientUnsupported}. */
export function checkDataplanePlan(plan: VersionPlan, dataplane: 'sidecar' | 'ambient'): void {
  checkVersionPlan(plan);
  if (dataplane !== 'ambient') return;
  const why = ambientUnsupported(plan.istio);
  if (why) throw new UserError(`${why}; use --istio with one of those for --dataplane ambient`);
}

/**
 * Whether a release supports a Kubernetes version: undefined when it does, else why not (for a
 * cluster found as it is, where the fix is an upgrade rather than another flag).
 */
export function unsupportedPair(
  product: 'Istio' | 'Calico',
  version: string,
  kubernetes: string,
): string | undefined {
  const table = product === 'Istio' ? ISTIO_KUBERNETES : CALICO_KUBERNETES;
  const broken = product === 'Calico' ? brokenCalico(version) : undefined;
  if (broken) return `Calico ${version} ${broken}`;
  const range = table[minorOf(version)];
  if (!range)
    return `${product} ${version} is not a release bulkhead knows (it knows ${Object.keys(table).join(', ')})`;
  if (within(minorOf(kubernetes), range)) return undefined;
  return `${product} ${version} does not support Kubernetes ${kubernetes} (it supports ${range[0]}–${range[1]})`;
}
