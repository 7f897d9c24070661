/**
 * The vocabulary of the policy model: three-valued matching, predictions, layers, and the
 * cluster facts the scenario does not state (address ranges, where istiod and CoreDNS run).
 */
import { PUBLIC_ADDRESS } from '../scenario/address-target.js';
import type { Outcome } from '../scenario/outcomes.js';
import type { Manifest } from '../scenario/types.js';

/**
 * Three-valued match: a selector, CIDR or rule either matches, does not, or the model cannot
 * tell (an address it does not know, a field it does not understand). Numbers, not strings:
 * these sit in per-endpoint tables that are read a million times per benchmark.
 */
export const NO = 0;
export const YES = 1;
export const MAYBE = 2;
export type Tri = typeof NO | typeof YES | typeof MAYBE;

export function triAnd(a: Tri, b: Tri): Tri {
  if (a === NO || b === NO) return NO;
  return a === YES && b === YES ? YES : MAYBE;
}

export function triOr(a: Tri, b: Tri): Tri {
  if (a === YES || b === YES) return YES;
  return a === NO && b === NO ? NO : MAYBE;
}

export function triNot(a: Tri): Tri {
  return a === MAYBE ? MAYBE : a === YES ? NO : YES;
}

/** `routing`: an ingress gateway's routes, which may not send to a backend (harness/model/gateway.ts). */
export const LAYERS = ['network', 'mtls', 'authorization', 'routing', 'dns', 'api', 'none'] as const;
export type Layer = (typeof LAYERS)[number];

/** A prediction's outcome: the observable outcomes, or `unknown` when the model cannot tell. */
export type PredictedOutcome = Outcome | 'unknown';

export interface Prediction {
  readonly outcome: PredictedOutcome;
  /** The layer that decided: the one that denied, the one that answered (dns, api), or none. */
  readonly layer: Layer;
  /** Each object that allowed or denied, in the order a packet meets them. */
  readonly reasons: readonly string[];
}

/**
 * The layers whose policies `--ablate` removes in turn. `cluster-network` (ClusterNetworkPolicy)
 * takes part only where such policies exist (ablation.ts).
 */
export const ABLATABLE_LAYERS = ['cluster-network', 'network', 'mtls', 'authorization'] as const;
export type AblatableLayer = (typeof ABLATABLE_LAYERS)[number];

/**
 * What the model assumes about the cluster beyond the scenario. Every default fits a kind cluster
 * with Calico (operator install) and Istio installed the usual way.
 */
export interface ClusterFacts {
  /**
   * Where pods get addresses, for ipBlock/nets rules against workloads without a declared `ip`.
   * Default: 192.168.0.0/16, the IP pool of Calico's kind guide.
   */
  readonly podCidrs: readonly string[];
  /**
   * The API server as network policy sees it: after the `kubernetes` Service's DNAT, a node
   * address and 6443 (Calico enforces after DNAT). Default: somewhere in 172.18.0.0/16, the
   * docker network kind creates on most machines, port 6443.
   */
  readonly apiServer: { readonly cidrs: readonly string[]; readonly port: number };
  /** Namespace istiod runs in. Default: istio-system. */
  readonly istiodNamespace: string;
  /**
   * Where the nodes' addresses lie, for attempts to the node a pod runs on (harness/model/external.ts).
   * Default: 172.18.0.0/16, the docker network kind puts its nodes on.
   */
  readonly nodes: { readonly cidrs: readonly string[] };
  /**
   * The address an `internet` attempt dials. Default: the public address bulkhead uses where it
   * provides no stand-in of its own (harness/scenario/address-target.ts PUBLIC_ADDRESS).
   */
  readonly internet: { readonly cidrs: readonly string[] };
  /**
   * The DNS pods in kube-system as policy sees a query (after the kube-dns Service's DNAT): their
   * labels and own ports. Default: kubeadm's CoreDNS, `k8s-app: kube-dns` on 53/UDP and 53/TCP.
   */
  /**
   * The Calico release that enforces policy (`v3.31.2`), when known: it decides what the
   * AdminNetworkPolicy kinds do (model/admin-network-policy.ts). Default: not known.
   */
  readonly calico?: string;
  readonly dns: {
    readonly labels: Readonly<Record<string, string>>;
    readonly ports: readonly {
      readonly port: number;
      readonly protocol: 'UDP' | 'TCP';
      readonly name?: string;
    }[];
  };
}

export const DEFAULT_CLUSTER_FACTS: ClusterFacts = {
  podCidrs: ['192.168.0.0/16'],
  apiServer: { cidrs: ['172.18.0.0/16'], port: 6443 },
  istiodNamespace: 'istio-system',
  nodes: { cidrs: ['172.18.0.0/16'] },
  internet: { cidrs: [`${PUBLIC_ADDRESS}/32`] },
  dns: {
    labels: { 'k8s-app': 'kube-dns' },
    ports: [
      { port: 53, protocol: 'UDP', name: 'dns' },
      { port: 53, protocol: 'TCP', name: 'dns-tcp' },
      { port: 9153, protocol: 'TCP', name: 'metrics' },
    ],
  },
};

/** What the model reads of a manifest: the object and where it was written (for reasons). */
export type PolicyManifest = Pick<Manifest, 'object' | 'file' | 'line'>;
