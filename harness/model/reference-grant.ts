/**
 * Gateway API ReferenceGrant: whether an HTTPRoute in one namespace may send to a Service in
 * another, as Istio's gateway controller decides it.
 *
 * Sources:
 * - kubernetes-sigs/gateway-api v1.5.1 `apis/v1/referencegrant_types.go:66-157` (v1beta1's types
 *   are aliases of these: `apis/v1beta1/referencegrant_types.go`): a grant lives in the namespace of what may be referenced; `from` entries name a
 *   group, kind and namespace of referencing objects, `to` entries a group, kind and optional name
 *   of referenced ones; entries of each list are ORed; without `to.name` every object of that kind
 *   in the grant's namespace may be referenced. The CRD (`config/crd/standard/
 *   gateway.networking.k8s.io_referencegrants.yaml`, identical schemas in v1.4.1 and v1.5.1)
 *   requires `from`, `to`, and group/kind/namespace, group/kind in their entries.
 * - istio/istio 1.30.3 `pilot/pkg/config/kube/gatewaycommon/references.go:133-178`: each
 *   from × to pair becomes one grant; a `from` kind other than Gateway, HTTPRoute, GRPCRoute,
 *   TLSRoute, TCPRoute or ListenerSet, or a `to` kind other than ConfigMap, Secret, Service or
 *   InferencePool is skipped; group and kind are looked up exactly (`NormalizeReference`, :85-104),
 *   so a Service is `group: ""` and an HTTPRoute `group: gateway.networking.k8s.io`.
 *   `BackendAllowed` (:236-254) admits the backend when a grant for (HTTPRoute, the route's
 *   namespace) → (Service, the backend's namespace) has no name or the backend's name.
 *   `buildDestination` calls it for a backendRef in another namespace only (`pilot/pkg/config/kube/
 *   gateway/conversion.go:1085-1098`); a same-namespace backendRef needs no grant.
 */
import { REFERENCE_GRANT_VERSIONS } from '../scenario/gateways.js';
import { where } from './networkpolicy.js';
import { isObj, objectName } from './read.js';
import type { PolicyManifest } from './types.js';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** One from × to pair of a grant, as Istio indexes it. */
interface GrantPair {
  readonly title: string;
  readonly fromNamespace: string;
  readonly toNamespace: string;
  /** Undefined: every Service of the grant's namespace. */
  readonly name: string | undefined;
}

export interface BackendDecision {
  readonly allowed: boolean | undefined;
  readonly reason: string;
}

export class ReferenceGrants {
  private readonly pairs: readonly GrantPair[];
  /** A grant in an apiVersion the pinned bundles do not serve: what it does is not known. */
  private readonly problem: string | undefined;

  constructor(manifests: readonly PolicyManifest[]) {
    const pairs: GrantPair[] = [];
    let problem: string | undefined;
    for (const m of manifests) {
      const { name, namespace } = objectName(m.object);
      const title = `ReferenceGrant ${namespace ?? 'default'}/${name} (${where(m)})`;
      if (!REFERENCE_GRANT_VERSIONS.includes(String(m.object.apiVersion))) {
        problem ??= `${title} is ${String(m.object.apiVersion)}, which the pinned Gateway API bundles do not serve (${REFERENCE_GRANT_VERSIONS.join(', ')})`;
        continue;
      }
      const spec = isObj(m.object.spec) ? m.object.spec : {};
      const from = Array.isArray(spec.from) ? spec.from.filter(isObj) : [];
      const to = Array.isArray(spec.to) ? spec.to.filter(isObj) : [];
      for (const f of from) {
        if (f.group !== GATEWAY_GROUP || f.kind !== 'HTTPRoute' || typeof f.namespace !== 'string') continue;
        for (const t of to) {
          if (t.group !== '' || t.kind !== 'Service') continue;
          pairs.push({
            title,
            fromNamespace: f.namespace,
            toNamespace: namespace ?? 'default',
            name: typeof t.name === 'string' ? t.name : undefined,
          });
        }
      }
    }
    this.pairs = pairs;
    this.problem = problem;
  }

  /** Whether an HTTPRoute in `routeNamespace` may send to the Service `backend`. */
  backendAllowed(routeNamespace: string, backend: { namespace: string; name: string }): BackendDecision {
    const service = `Service ${backend.namespace}/${backend.name}`;
    if (routeNamespace === backend.namespace)
      return {
        allowed: true,
        reason: `the route and ${service} share a namespace: no ReferenceGrant needed`,
      };
    const grant = this.pairs.find(
      (p) =>
        p.fromNamespace === routeNamespace &&
        p.toNamespace === backend.namespace &&
        (p.name === undefined || p.name === backend.name),
    );
    if (grant)
      return {
        allowed: true,
        reason: `${grant.title} lets HTTPRoutes of ${routeNamespace} reach ${grant.name === undefined ? `every Service of ${backend.namespace}` : service}`,
      };
    if (this.problem) return { allowed: undefined, reason: this.problem };
    return {
      allowed: false,
      reason: `no ReferenceGrant in ${backend.namespace} lets HTTPRoutes of ${routeNamespace} reach ${service}: Istio drops the backendRef (RefNotPermitted) and the gateway answers 500 itself`,
    };
  }
}
