/**
 * Destinations that are not Service names (issue: escape attempts beyond tenant-to-tenant): the
 * node a pod runs on, another pod's own IP, the cloud's metadata service and addresses outside the
 * cluster. What each one is, how reports name it, and which category it falls in.
 *
 * Sources:
 * - 169.254.169.254 is the instance metadata service on AWS, GCP and Azure; on AWS Nitro instances
 *   with IPv6 it also answers at fd00:ec2::254 (AWS whitepaper "IPv6 on AWS", "Supporting Amazon
 *   VPC services": "For Nitro-based instances with IPv6 addresses, AWS provides this service at
 *   the fd00:ec2::254 IPv6 endpoint").
 * - The kubelet serves its API on 10250 (kubernetes/kubernetes `pkg/cluster/ports/ports.go`
 *   `KubeletPort = 10250`).
 * - A Service of type NodePort is also reachable on every node's address at a node port which,
 *   when the Service names none, the control plane allocates at creation from
 *   `--service-node-port-range`, 30000-32767 by default; a node port is unique across the cluster
 *   (Kubernetes blog, 2023-05-11, "Kubernetes 1.27: Avoid Collisions Assigning Ports to NodePort
 *   Services", "How Kubernetes allocates node ports to Services?").
 */
import { refText, type AddressTarget } from './types.js';

/** The instance metadata service's IPv4 address (link-local, the same on every major cloud). */
export const METADATA_IPV4 = '169.254.169.254';
/** Its IPv6 form on AWS Nitro instances with IPv6 (see the module header). */
export const METADATA_IPV6 = 'fd00:ec2::254';
/** The kubelet's API port. */
export const KUBELET_PORT = 10250;
export const SSH_PORT = 22;

/** The API server's default node port range (see the module header). */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

/** The Service of type NodePort a workload with `nodePort: true` gets besides its own. */
export function nodePortServiceName(workload: string): string {
  return `${workload}-nodeport`;
}

/**
 * The address an `internet` target dials where bulkhead provides no stand-in of its own: a public
 * anycast resolver that also serves HTTP on 80 and 443, so an allowed attempt has an answer.
 */
export const PUBLIC_ADDRESS = '1.1.1.1';

export function isMetadataAddress(address: string): boolean {
  return address === METADATA_IPV4 || address.toLowerCase() === METADATA_IPV6;
}

/** How reports and ids name the destination: `node`, `node-port(tenant-acme/api)`, `pod-ip(tenant-acme/api)`, `169.254.169.254`, `internet`. */
export function addressTargetText(t: AddressTarget): string {
  switch (t.kind) {
    case 'node':
      return 'node';
    case 'node-port':
      return `node-port(${refText(t.workload)})`;
    case 'pod-ip':
      return `pod-ip(${refText(t.workload)})`;
    case 'address':
      return t.cidr ?? (t.address.includes(':') ? `[${t.address}]` : t.address);
    case 'internet':
      return 'internet';
    case 'gateway':
      return `gateway(${refText(t.gateway)}:${t.hostname}->${refText(t.backend)})`;
  }
}

/** The category an attempt to this destination falls in when the scenario names none. */
export function addressCategory(t: AddressTarget): 'node' | 'metadata' | 'egress' | 'pod-ip' | 'gateway' {
  switch (t.kind) {
    case 'node':
    case 'node-port':
      return 'node';
    case 'pod-ip':
      return 'pod-ip';
    case 'address':
      return isMetadataAddress(t.address) ? 'metadata' : 'egress';
    case 'internet':
      return 'egress';
    case 'gateway':
      return 'gateway';
  }
}
