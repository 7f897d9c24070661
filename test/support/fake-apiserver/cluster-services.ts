/**
 * What every real cluster holds before anyone applies anything, and a run reads: the `kubernetes`
 * Service's EndpointSlice (the API server's address and port after DNAT) and the `kube-dns`
 * Service with its EndpointSlice, shaped as kubeadm (and so kind) creates them: selector
 * `k8s-app: kube-dns`, 53/UDP, 53/TCP and 9153/TCP. The addresses are data only: nothing dials them.
 */
export const API_SERVER_ADDRESS = '172.18.0.2';
export const KUBE_DNS_CLUSTER_IP = '10.96.0.10';
export const KUBE_DNS_POD_ADDRESS = '192.168.0.10';

/** As kubelet writes it for a ClusterFirst pod in namespace `ns` (docs/behaviour.md §A5: search path, ndots 5). */
export function resolvConf(ns: string, nameserver: string = KUBE_DNS_CLUSTER_IP): string {
  return (
    `search ${ns}.svc.cluster.local svc.cluster.local cluster.local\n` +
    `nameserver ${nameserver}\noptions ndots:5\n`
  );
}

export function clusterServices(): Record<string, unknown>[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver' } },
      spec: {
        clusterIP: '10.96.0.1',
        clusterIPs: ['10.96.0.1'],
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'kubernetes',
        namespace: 'default',
        labels: { 'kubernetes.io/service-name': 'kubernetes' },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [API_SERVER_ADDRESS], conditions: { ready: true } }],
      ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
      spec: {
        clusterIP: KUBE_DNS_CLUSTER_IP,
        clusterIPs: [KUBE_DNS_CLUSTER_IP],
        selector: { 'k8s-app': 'kube-dns' },
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
          { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
        ],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'kube-dns-x7k2p',
        namespace: 'kube-system',
        labels: { 'kubernetes.io/service-name': 'kube-dns' },
      },
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: [KUBE_DNS_POD_ADDRESS],
          conditions: { ready: true },
          targetRef: { kind: 'Pod', namespace: 'kube-system', name: 'coredns-5d78c9869d-abcde' },
        },
      ],
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        { name: 'metrics', port: 9153, protocol: 'TCP' },
      ],
    },
  ];
}
