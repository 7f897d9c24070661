/**
 * What the built-in bundles need to know about the cluster that the scenario does not say.
 * Every field has a default that fits a kind cluster with Calico and Istio installed the usual way.
 */

/** The API server as Calico sees it: after the `kubernetes` Service's DNAT, so node addresses and 6443. */
export interface ApiServerEndpoints {
  /** CIDRs holding the API server's endpoint addresses (`kubectl get endpointslices -l kubernetes.io/service-name=kubernetes`). */
  readonly cidrs: readonly string[];
  /** The port the API server listens on inside the node. */
  readonly port: number;
}

/**
 * The cluster DNS servers as Calico sees a pod's query: after the kube-dns Service's DNAT, so the
 * pods behind the Service (chosen by its selector) and the ports they listen on, not the
 * ClusterIP and the Service port (docs/behaviour.md §A3: Calico enforces workload policy after DNAT).
 */
export interface DnsEndpoints {
  /** The kube-dns Service's selector: the labels of the pods that answer, in kube-system. */
  readonly podLabels: Readonly<Record<string, string>>;
  /** The pods' own ports for DNS (the EndpointSlice's ports), UDP and/or TCP. */
  readonly ports: readonly { readonly protocol: 'UDP' | 'TCP'; readonly port: number }[];
}

export interface RenderOptions {
  /**
   * Where tenants may reach the Kubernetes API. Default: {@link KIND_API_SERVER}, the node network
   * docker gives kind's `kind` network on a machine with no other bridge networks, port 6443.
   * Calico enforces workload policy after DNAT, so the Service ClusterIP (10.96.0.1:443) never
   * matches; give the control-plane node address(es) of your cluster here instead.
   */
  readonly apiServer?: ApiServerEndpoints;
  /**
   * Where tenants' DNS queries end up after the kube-dns Service's DNAT: the pods the Service
   * selects (in kube-system) and their target ports. Default: {@link KUBEADM_DNS}.
   */
  readonly dns?: DnsEndpoints;
  /** Namespace istiod runs in. Default: the scenario's mesh root namespace. */
  readonly istiodNamespace?: string;
  /** Calico tier that holds the cross-tenant deny. Default: {@link DEFAULT_TIER}. */
  readonly tier?: { readonly name: string; readonly order: number };
  /**
   * Destinations outside the cluster every tenant may reach (the scenario's
   * `builtin: hard-isolation` `allowEgress`), each an address or CIDR with the TCP ports allowed
   * (none: every port). Default: none, so nodes, the metadata service and the internet stay denied.
   */
  readonly allowEgress?: readonly { readonly cidr: string; readonly ports?: readonly number[] }[];
  /**
   * Where `builtin: hard-isolation` puts its cross-tenant deny: `calico`, a GlobalNetworkPolicy per
   * tenant in {@link tier}; `cnp`, a ClusterNetworkPolicy per tenant in the Admin tier (Calico
   * ≥ 3.32.1). Overrides the scenario's `clusterPolicy`. Default: the scenario's, else `calico`.
   */
  readonly clusterPolicy?: ClusterPolicyForm;
}

/** The forms of hard-isolation's cross-tenant deny. */
export const CLUSTER_POLICY_FORMS = ['calico', 'cnp'] as const;
export type ClusterPolicyForm = (typeof CLUSTER_POLICY_FORMS)[number];

/** First priority of hard-isolation's ClusterNetworkPolicies: one per tenant, each its own. */
export const CNP_FIRST_PRIORITY = 100;

/**
 * kind puts its nodes on the docker network `kind`; docker hands it the first free /16 after the
 * default bridge, which is 172.18.0.0/16 on most machines (`docker network inspect kind`).
 */
export const KIND_API_SERVER: ApiServerEndpoints = { cidrs: ['172.18.0.0/16'], port: 6443 };

/**
 * kubeadm's CoreDNS, which kind runs: pods labelled `k8s-app: kube-dns` in kube-system, serving
 * 53/UDP and 53/TCP (kubernetes/kubernetes `cmd/kubeadm/app/phases/addons/dns/manifests.go`;
 * docs/behaviour.md §A4 and live-path review item 18).
 */
export const KUBEADM_DNS: DnsEndpoints = {
  podLabels: { 'k8s-app': 'kube-dns' },
  ports: [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ],
};

/** Lower order than the default tier (which holds the Kubernetes NetworkPolicies), so it is evaluated first. */
export const DEFAULT_TIER = { name: 'tenant-isolation', order: 100 } as const;

/** The namespace label every tenant namespace carries (`tenant: <name>`, set by the scenario loader). */
export const TENANT_LABEL = 'tenant';

/** The header the shared services read the caller's verified identity from. */
export const IDENTITY_HEADER = 'x-tenant-identity';
