/**
 * The Gateway API's names bulkhead writes and reads (kubernetes-sigs/gateway-api v1.5.1
 * `apis/v1/doc.go` groupName), apart from the installer so that rendering fixtures loads no
 * Kubernetes client.
 */
export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The CRD a waypoint and an ingress gateway are instances of. */
export const GATEWAY_CRD = `gateways.${GATEWAY_API_GROUP}`;
