/**
 * Gateway API pitfalls. A ReferenceGrant in a tenant's namespace that trusts HTTPRoutes of another
 * tenant's namespace lets that tenant route a shared ingress gateway's traffic to this tenant's
 * Services: the gateway then forwards with its own identity, which the tenants' policies admit for
 * their own routes, so the grant is the only check between the tenants (harness/model/
 * reference-grant.ts has the sources: gateway-api v1.5.1 `apis/v1/referencegrant_types.go:66-157`,
 * istio@1.30.3 `pilot/pkg/config/kube/gatewaycommon/references.go:133-178,236-254`).
 */
import { arr, obj, str } from '../policies/objects.js';
import { REFERENCE_GRANT_VERSIONS } from '../scenario/gateways.js';
import { namespaceOf } from './context.js';
import { at, type Finding, type Rule } from './types.js';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** Route kinds a ReferenceGrant can trust for backendRefs (references.go: the `from` kinds Istio reads). */
const ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute'];

const crossTenantReferenceGrant: Rule = {
  id: 'gateway/cross-tenant-reference-grant',
  severity: 'error',
  summary: "A ReferenceGrant lets another tenant's routes reach this tenant's Services",
  help: "ReferenceGrant (gateway-api v1.5.1 apis/v1/referencegrant_types.go): a `from` entry trusts the routes of a namespace to send to the grant namespace's Services. A shared ingress gateway then forwards another tenant's requests under the gateway's own identity.",
  check(ctx) {
    const out: Finding[] = [];
    for (const m of ctx.ofKind('ReferenceGrant', GATEWAY_GROUP)) {
      const ns = namespaceOf(m);
      const own = ctx.tenancy(ns);
      if (!own) continue;
      const spec = obj(m.object.spec);
      const services = arr(spec.to).some((t) => str(obj(t).group) === '' && str(obj(t).kind) === 'Service');
      if (!services) continue;
      arr(spec.from).forEach((f, i) => {
        const from = obj(f);
        const fromNs = str(from.namespace);
        const other = ctx.tenancy(fromNs);
        if (
          str(from.group) !== GATEWAY_GROUP ||
          !ROUTE_KINDS.includes(str(from.kind) ?? '') ||
          !other ||
          other.tenant === own.tenant
        )
          return;
        out.push(
          at(
            this,
            m,
            ['spec', 'from', i],
            `ReferenceGrant in ${ns ?? ''} (tenant ${own.tenant}) trusts ${str(from.kind) ?? ''}s of ${fromNs ?? ''} (tenant ${other.tenant}): that tenant can route an ingress gateway to ${own.tenant}'s Services`,
            "Remove the entry; a tenant's routes should send only to its own namespaces' Services.",
          ),
        );
      });
    }
    return out;
  },
};

const referenceGrantVersion: Rule = {
  id: 'gateway/reference-grant-version',
  severity: 'error',
  summary: 'A ReferenceGrant in an apiVersion the pinned Gateway API bundles do not serve',
  help: 'Gateway API v1.4.1 serves ReferenceGrant as v1beta1 only, v1.5.1 as v1 and v1beta1 (config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml); the API server refuses another version.',
  check(ctx) {
    return ctx
      .ofKind('ReferenceGrant', GATEWAY_GROUP)
      .filter((m) => !REFERENCE_GRANT_VERSIONS.includes(String(m.object.apiVersion)))
      .map((m) =>
        at(
          this,
          m,
          ['apiVersion'],
          `ReferenceGrant as ${String(m.object.apiVersion)}: not served by the pinned Gateway API bundles (${REFERENCE_GRANT_VERSIONS.join(', ')})`,
          'Write it as gateway.networking.k8s.io/v1beta1, which both bundles serve.',
        ),
      );
  },
};

export const GATEWAY_RULES: readonly Rule[] = [crossTenantReferenceGrant, referenceGrantVersion];
