/**
 * The schemas of Calico's staged policy kinds, derived from the schemas of the kinds they preview
 * (reference/ambient-cnp-facts.md B6.1). Checked against projectcalico/calico at v3.32.1 and at the
 * commit the shipped Calico CRDs come from (87c15906, schemas/calico/SOURCE.md):
 * - StagedNetworkPolicy and StagedGlobalNetworkPolicy: the CRDs
 *   `api/config/crd/projectcalico.org_staged{,global}networkpolicies.yaml` (and
 *   `libcalico-go/config/crd/crd.projectcalico.org_staged{,global}networkpolicies.yaml` for
 *   crd.projectcalico.org/v1) differ from the enforced kinds' CRDs (`projectcalico.org_networkpolicies.yaml`,
 *   `projectcalico.org_globalnetworkpolicies.yaml`) in their names, descriptions and printer
 *   columns, and in one property: `spec.stagedAction`, a string of `Set`, `Delete`, `Learn`,
 *   `Ignore` (default `Set`). The Go types say the same
 *   (`api/pkg/apis/projectcalico/v3/stagednetworkpolicy.go`, `stagedglobalnetworkpolicy.go`: the
 *   enforced spec's fields plus `StagedAction`; `policy_common.go:246-249` the enum). So their
 *   schema is the shipped enforced CRD's with that property added.
 * - StagedKubernetesNetworkPolicy: `api/pkg/apis/projectcalico/v3/stagedkubernetesnetworkpolicy.go`
 *   gives `spec` the fields of networking.k8s.io/v1 NetworkPolicySpec (`podSelector`, `ingress`,
 *   `egress`, `policyTypes`, of the networkingv1 types) plus `stagedAction`, and
 *   `+kubebuilder:validation:MinItems=1`, `MaxItems=2` on `policyTypes`; its CRD
 *   (`api/config/crd/projectcalico.org_stagedkubernetesnetworkpolicies.yaml`) requires `metadata`
 *   and `spec` and, being generated from the Go types, carries no enum on `policyTypes` items or on
 *   a port's `protocol`, which Kubernetes' own NetworkPolicy schema has. So its schema is the
 *   NetworkPolicy schema bulkhead ships (kubernetes-models) with those two enums lifted, the item
 *   bounds and `stagedAction` added, and `metadata` and `spec` required.
 * Whether a staged policy's values would be accepted once enforced is not a schema question: plan
 * --staged predicts it as the enforced kind (model/staged.ts).
 */
import type { ErrorObject } from 'ajv';

/** `spec.stagedAction`'s values (calico@v3.32.1 api/pkg/apis/projectcalico/v3/policy_common.go:246-249). */
export const STAGED_ACTIONS = ['Set', 'Delete', 'Learn', 'Ignore'] as const;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The enforced kind's CRD schema (adapted, calico-schema.ts) with `spec.stagedAction` added. */
export function stagedCalicoSchema(enforced: Json): Json {
  const schema = structuredClone(enforced);
  const properties = isObject(schema.properties) ? schema.properties : undefined;
  const spec = properties && isObject(properties.spec) ? properties.spec : undefined;
  const specProperties = spec && isObject(spec.properties) ? spec.properties : undefined;
  if (!specProperties) throw new Error('the enforced schema has no spec.properties');
  specProperties.stagedAction = { type: 'string', enum: [...STAGED_ACTIONS] };
  return schema;
}

/** Enum errors of the Kubernetes schema the StagedKubernetesNetworkPolicy CRD does not have. */
const LIFTED_ENUMS = [/^\/spec\/policyTypes\/\d+$/, /^\/spec\/(ingress|egress)\/\d+\/ports\/\d+\/protocol$/];

const error = (instancePath: string, keyword: string, params: Json, message?: string): ErrorObject => ({
  instancePath,
  schemaPath: `#/${keyword}`,
  keyword,
  params,
  ...(message ? { message } : {}),
});

/**
 * Schema errors of a StagedKubernetesNetworkPolicy: its spec (without `stagedAction`) checked as a
 * networking.k8s.io/v1 NetworkPolicy's by `networkPolicyErrors`, then the differences above.
 */
export function stagedKubernetesErrors(
  object: Readonly<Json>,
  networkPolicyErrors: (networkPolicy: Json) => readonly ErrorObject[],
): ErrorObject[] {
  const out: ErrorObject[] = [];
  for (const field of ['metadata', 'spec']) {
    if (object[field] === undefined)
      out.push(error('', 'required', { missingProperty: field }, `must have required property '${field}'`));
  }
  for (const field of Object.keys(object)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(field))
      out.push(error('', 'additionalProperties', { additionalProperty: field }));
  }
  const spec = isObject(object.spec) ? object.spec : {};
  const { stagedAction, ...rest } = spec;
  const enforced = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    ...(object.metadata === undefined ? {} : { metadata: object.metadata }),
    spec: rest,
  };
  out.push(
    ...networkPolicyErrors(enforced).filter(
      (e) => !(e.keyword === 'enum' && LIFTED_ENUMS.some((p) => p.test(e.instancePath))),
    ),
  );
  if (stagedAction !== undefined && !(STAGED_ACTIONS as readonly unknown[]).includes(stagedAction))
    out.push(error('/spec/stagedAction', 'enum', { allowedValues: [...STAGED_ACTIONS] }));
  const policyTypes = spec.policyTypes;
  if (Array.isArray(policyTypes) && policyTypes.length < 1)
    out.push(error('/spec/policyTypes', 'minItems', { limit: 1 }, 'must NOT have fewer than 1 items'));
  if (Array.isArray(policyTypes) && policyTypes.length > 2)
    out.push(error('/spec/policyTypes', 'maxItems', { limit: 2 }, 'must NOT have more than 2 items'));
  return out;
}
